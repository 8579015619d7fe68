"""Write a Kaggle submission for the Facial Keypoints Detection test set.

    python -m fkp.submit --model fkp/weights --test test.csv --lookup IdLookupTable.csv --out submission.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from .keypoints import FRAME_SIZE, KAGGLE_COLUMNS


def make_submission(predictor, test_csv: str, lookup_csv: str) -> pd.DataFrame:
    """RowId, Location for every row of Kaggle's IdLookupTable, predicted on test.csv's images."""
    from .data import DataError, read_kaggle_csv

    rows = list(read_kaggle_csv(test_csv))
    if not rows:
        raise DataError(f"{test_csv}: no images")
    frames = np.stack([row["image"] for row in rows])
    keypoints, _, _ = predictor.predict_frames(frames)
    flat = pd.DataFrame(np.clip(keypoints.reshape(len(rows), -1), 0, FRAME_SIZE), columns=list(KAGGLE_COLUMNS), index=[int(r["id"]) for r in rows])
    lookup = pd.read_csv(lookup_csv)
    missing = {"RowId", "ImageId", "FeatureName"} - set(lookup.columns)
    if missing:
        raise DataError(f"{lookup_csv}: missing column(s) {sorted(missing)}")
    unknown_images = sorted(set(lookup.ImageId) - set(flat.index))
    if unknown_images:
        raise DataError(f"{lookup_csv}: ImageId(s) {unknown_images[:5]} not in {test_csv}")
    unknown_features = sorted(set(lookup.FeatureName) - set(KAGGLE_COLUMNS))
    if unknown_features:
        raise DataError(f"{lookup_csv}: unknown FeatureName(s) {unknown_features[:5]}")
    locations = flat.to_numpy()[flat.index.get_indexer(lookup.ImageId), [KAGGLE_COLUMNS.index(f) for f in lookup.FeatureName]]
    return pd.DataFrame({"RowId": lookup.RowId, "Location": locations})


def main(argv: list[str] | None = None, prog: str = "python -m fkp.submit") -> None:
    from .api import FaceKeypoints, default_model_source

    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or Hub id (default: the shipped weights)")
    parser.add_argument("--test", required=True, help="Kaggle test.csv (ImageId, Image)")
    parser.add_argument("--lookup", required=True, help="Kaggle IdLookupTable.csv")
    parser.add_argument("--out", required=True)
    parser.add_argument("--flip-test", action="store_true")
    args = parser.parse_args(argv)
    submission = make_submission(FaceKeypoints(args.model or default_model_source(), flip_test=args.flip_test), args.test, args.lookup)
    submission.to_csv(args.out, index=False)
    print(f"wrote {len(submission)} rows to {args.out}")


if __name__ == "__main__":
    main()
