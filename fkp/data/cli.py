"""The data command line: convert any source into fkp's schema as parquet (optionally pushed to the Hub
with a dataset card), and calibrate the ytf68 crop framing on Kaggle's label statistics.

Sources: Kaggle's training.csv / training.zip / test.csv; a Hub dataset id in fkp's schema; local
parquet file(s) or a `save_to_disk` folder; a ytf68-layout folder of photos + iBUG-68 landmarks
(NAME_frames_keypoints.csv + NAME/), converted to Kaggle-like 96x96 frames. Output rows: id, person,
a 96x96 grayscale image and (15, 2) float32 keypoints in frame pixels, NaN where missing (`fkp.data.schema`).

CLI: ``python -m fkp.data convert SOURCE OUT.parquet [--push-to-hub REPO_ID]`` and
``python -m fkp.data calibrate --kaggle training_keypoints.csv --ytf68 FOLDER``
(also ``fkp convert`` and ``fkp calibrate framing``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from ..framing import LANDMARK_FRAMING
from ..options import LABEL_X_SHIFT_HELP, SKIP_BAD_ROWS_HELP, VAL_FRACTION
from .calibration import calibrate_framing, ytf68_landmarks
from .kaggle import read_kaggle_labels
from .sources import load_source


def main(argv: list[str] | None = None, prog: str = "python -m fkp.data") -> None:
    """Run ``convert`` or ``calibrate`` with ``argv`` (default sys.argv[1:]); bad input is a DataError."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="write any source in fkp's schema as parquet")
    convert.add_argument("source")
    convert.add_argument("out", help="output .parquet file")
    convert.add_argument("--split", default=None)
    convert.add_argument("--skip-bad-rows", action="store_true", help=SKIP_BAD_ROWS_HELP)
    convert.add_argument("--label-x-shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    convert.add_argument(
        "--val-fraction", type=float, default=VAL_FRACTION, help="with --split train/val: train.py's --val_fraction"
    )
    convert.add_argument("--push-to-hub", metavar="REPO_ID", default=None)
    calibrate = commands.add_parser("calibrate", help="fit the ytf68 framing on Kaggle's label statistics and compare")
    calibrate.add_argument("--kaggle", required=True, help="Kaggle training_keypoints.csv or training.csv")
    calibrate.add_argument("--ytf68", required=True, help="ytf68-layout folder")
    calibrate.add_argument("--label-x-shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.command == "convert":
        dataset = load_source(
            args.source,
            args.split,
            on_error="skip" if args.skip_bad_rows else "raise",
            label_x_shift=args.label_x_shift,
            val_fraction=args.val_fraction,
        )
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(args.out)
        print(f"wrote {len(dataset)} rows to {args.out}")
        if args.push_to_hub:
            import shlex
            import sys

            from .card import dataset_card

            dataset.push_to_hub(args.push_to_hub)
            command = shlex.join(["fkp", "convert", *(sys.argv[1:] if argv is None else argv)[1:]])
            card = dataset_card(dataset, args.source, command, args.label_x_shift)
            card.push_to_hub(args.push_to_hub, repo_type="dataset")
            print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub} with a dataset card")
    else:
        kaggle = read_kaggle_labels(args.kaggle)
        landmarks = ytf68_landmarks(args.ytf68, args.label_x_shift)
        framing, table = calibrate_framing(kaggle, landmarks)
        print(f"fitted: {framing}\nin use: {LANDMARK_FRAMING}")
        print(table.to_string())
        print(
            f"mean |mean difference| {np.abs(table.ours_mean - table.kaggle_mean).mean():.2f} px; "
            f"mean std ratio (ours / kaggle) {(table.ours_std / table.kaggle_std).mean():.2f}"
        )
