"""Write a Kaggle submission for the Facial Keypoints Detection test set.

python -m fkp.submit --model fast --test test.csv --lookup IdLookupTable.csv --out submission.csv
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import numpy as np

from .errors import FkpError
from .keypoints import FRAME_SIZE, KAGGLE_COLUMNS
from .shipped import MODEL_HELP

if TYPE_CHECKING:
    import pandas as pd


def read_inputs(test_csv: str, lookup_csv: str) -> tuple[list[dict], pd.DataFrame]:
    """test.csv's rows (`fkp.data.read_kaggle_csv`) and the lookup table, checked against each other:
    a DataError names the file and what is wrong."""
    from .data import read_kaggle_csv, read_table
    from .errors import DataError

    rows = list(read_kaggle_csv(test_csv))
    ids = {row["id"].strip() for row in rows}
    bad_id = next((row["id"] for row in rows if not row["id"].strip().isdigit()), None)
    if bad_id is not None:
        raise DataError(f"{test_csv}: ImageId {bad_id!r} is not a whole number")
    lookup = read_table(lookup_csv, ["RowId", "ImageId", "FeatureName"])
    for column in ("RowId", "ImageId"):
        bad = lookup[column][~lookup[column].str.strip().str.fullmatch(r"\d+")]
        if len(bad):
            raise DataError(
                f"{lookup_csv}: row {bad.index[0]}, field {column!r}: {bad.iloc[0]!r} is not a whole number"
            )
    unknown_images = sorted(set(lookup.ImageId.str.strip()) - ids, key=int)
    if unknown_images:
        raise DataError(f"{lookup_csv}: ImageId(s) {unknown_images[:5]} not in {test_csv}")
    unknown_features = sorted(set(lookup.FeatureName) - set(KAGGLE_COLUMNS))
    if unknown_features:
        raise DataError(f"{lookup_csv}: unknown FeatureName(s) {unknown_features[:5]}")
    return rows, lookup


def submission_table(predictor, rows: list[dict], lookup: pd.DataFrame) -> pd.DataFrame:
    """RowId, Location for every row of the lookup table, predicted on the test rows' images."""
    import pandas as pd

    frames = np.stack([row["image"] for row in rows])
    keypoints, _, _ = predictor.predict_frames(frames)
    flat = pd.DataFrame(
        np.clip(keypoints.reshape(len(rows), -1), 0, FRAME_SIZE),
        columns=list(KAGGLE_COLUMNS),
        index=[int(r["id"]) for r in rows],
    )
    image_ids = lookup.ImageId.astype(int)
    features = [KAGGLE_COLUMNS.index(f) for f in lookup.FeatureName]
    locations = flat.to_numpy()[flat.index.get_indexer(image_ids), features]
    return pd.DataFrame({"RowId": lookup.RowId.astype(int), "Location": locations})


def make_submission(predictor, test_csv: str, lookup_csv: str) -> pd.DataFrame:
    """RowId, Location for every row of Kaggle's IdLookupTable, predicted on test.csv's images."""
    return submission_table(predictor, *read_inputs(test_csv, lookup_csv))


def main(argv: list[str] | None = None, prog: str = "python -m fkp.submit") -> None:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--test", required=True, help="Kaggle test.csv (ImageId, Image)")
    parser.add_argument("--lookup", required=True, help="Kaggle IdLookupTable.csv")
    parser.add_argument("--out", required=True)
    parser.add_argument("--flip-test", action="store_true")
    args = parser.parse_args(argv)
    from .landmarker import FaceKeypoints, default_model_source  # torch: after --help has answered

    rows, lookup = read_inputs(args.test, args.lookup)  # bad input is reported before the model loads
    predictor = FaceKeypoints(args.model or default_model_source(), flip_test=args.flip_test)
    submission = submission_table(predictor, rows, lookup)
    try:
        submission.to_csv(args.out, index=False)
    except OSError as error:
        raise FkpError(f"cannot write --out {args.out}: {error.strerror or error}") from None
    print(f"wrote {len(submission)} rows to {args.out}")


if __name__ == "__main__":
    import sys

    from .errors import run_cli

    sys.exit(run_cli(main, prog="python -m fkp.submit"))
