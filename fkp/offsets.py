"""Keypoint offset calibration: the mean signed error of a trained model per keypoint, measured on the
training people and subtracted from every later prediction.

    fkp calibrate keypoints --model fkp/weights --data ../shared/data/ytf68 --label-x-shift -1.3

Why: training mirrors faces (left/right keypoints swapped), so the model is pushed towards a mirror
symmetric answer, and whatever is not mirror symmetric in how the labels were placed (the left eye's
label sitting a little higher than the right eye's, the nose tip's a little to one side) it cannot
learn; it shows as a fixed error per keypoint, the same on the training and the validation people.
The label x shift of the ytf68 data is the global case of this (`--label-x-shift`); these offsets are
the per-keypoint remainder, a few tenths of a pixel. They are measured on the training side of
train.py's person-wise split only (never on the validation people) and written into the model's
config.json, separately for predictions with and without flip test (the flip averages a keypoint
with its mirrored partner, so its remainder differs). `FaceKeypoints` applies them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .keypoints import KEYPOINT_NAMES


def raw_predictions(model, images: np.ndarray, flip_test: bool) -> np.ndarray:
    """(N, K, 2) keypoints of ``model`` (a `StackedHourglass`) on (N, 96, 96) frames, without its offsets."""
    import copy

    from .api import FaceKeypoints

    raw = copy.copy(model)  # the same weights, without offsets
    raw.keypoint_offsets = raw.flip_keypoint_offsets = None
    return FaceKeypoints(raw, flip_test=flip_test).predict_frames(images)[0]


def mean_errors(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(K, 2) mean signed error, prediction - label, over the (N, K, 2) arrays (NaN labels ignored)."""
    errors = np.asarray(predicted, np.float64) - labels
    counts = np.isfinite(errors).all(-1).sum(0)
    if (counts == 0).any():
        missing = [KEYPOINT_NAMES[k] for k in np.flatnonzero(counts == 0)]
        raise ValueError(f"no labelled example of {', '.join(missing)}: cannot measure its offset")
    return np.nanmean(errors, axis=0)


def main(argv: list[str] | None = None, prog: str = "python -m fkp.offsets") -> int:
    from .data import LABEL_X_SHIFT_HELP, DataError, load_source, to_arrays
    from .metrics import keypoint_metrics
    from .model import load_model

    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a local model folder (its config.json is rewritten)")
    parser.add_argument("--data", required=True, help="the source the model was trained on")
    parser.add_argument("--split", default="train", help="'train' (default): train.py's training people; never the validation people")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="train.py's --val_fraction (default 0.1)")
    parser.add_argument("--label-x-shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    parser.add_argument("--dry-run", action="store_true", help="print the offsets without writing config.json")
    args = parser.parse_args(argv)

    if args.split == "val":
        parser.error("calibrating on the validation people would make their figures meaningless: use --split train")
    config_path = Path(args.model) / "config.json"
    if not config_path.is_file():
        parser.error(f"{args.model}: not a local model folder (no config.json)")
    model = load_model(args.model)
    try:
        images, labels = to_arrays(load_source(args.data, args.split, label_x_shift=args.label_x_shift, val_fraction=args.val_fraction))
    except DataError as error:
        parser.error(str(error))
    if len(images) == 0:
        parser.error(f"{args.data}: the {args.split!r} split is empty")

    config = json.loads(config_path.read_text())
    print(f"{len(images)} frames of {args.data} ({args.split} split)")
    for key, flip in (("keypoint_offsets", False), ("flip_keypoint_offsets", True)):
        predicted = raw_predictions(model, images, flip)
        offsets = mean_errors(predicted, labels)
        config[key] = np.round(offsets, 4).tolist()
        before, after = keypoint_metrics(predicted, labels)["rmse"], keypoint_metrics(predicted - offsets, labels)["rmse"]
        print(f"\n{'with' if flip else 'without'} flip test: RMSE on these frames {before:.3f} -> {after:.3f} px")
        print(f"  {'keypoint':28s} {'dx':>6s} {'dy':>6s}")
        for name, (dx, dy) in zip(KEYPOINT_NAMES, offsets):
            print(f"  {name:28s} {dx:+6.2f} {dy:+6.2f}")
    if args.dry_run:
        print("\n--dry-run: config.json not changed")
    else:
        config_path.write_text(json.dumps(config, indent=2))
        print(f"\nwrote the offsets into {config_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
