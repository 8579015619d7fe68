"""Keypoint offset calibration: the mean signed error of a trained model per keypoint, measured on the
training people and subtracted from every later prediction.

    fkp calibrate keypoints --model runs/fkp        # data, label shift and split from its training_args.json

Why: training mirrors faces (left/right keypoints swapped), so the model is pushed towards a mirror
symmetric answer, and whatever is not mirror symmetric in how the labels were placed (in the ytf68
data the subject's left eye is labelled a little lower than the model puts it and the right eye a
little higher, the mouth corners a little further left in the image) it cannot
learn; it shows as a fixed error per keypoint, the same on the training and the validation people.
The label x shift of the ytf68 data is the global case of this (`--label-x-shift`); these offsets are
the per-keypoint remainder, a few tenths of a pixel. They are measured on the training side of
train.py's person-wise split only (never on the validation people; the data source, label shift and
validation fraction come from the run's training_args.json) and written into the model's
config.json, separately for predictions with and without flip test (the flip averages a keypoint
with its mirrored partner, so its remainder differs). `FaceKeypoints` applies them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .errors import DataError
from .keypoints import KEYPOINT_NAMES
from .options import LABEL_X_SHIFT_HELP, VAL_FRACTION, per_source


def without_offsets(model):
    """A shallow copy of ``model`` (a `StackedHourglass`: the same weights) that applies no offsets."""
    import copy

    raw = copy.copy(model)
    raw.keypoint_offsets = raw.flip_keypoint_offsets = None
    return raw


def mean_errors(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(K, 2) mean signed error, prediction - label, over the (N, K, 2) arrays (NaN labels ignored)."""
    errors = np.asarray(predicted, np.float64) - labels
    counts = np.isfinite(errors).all(-1).sum(0)
    if (counts == 0).any():
        missing = [KEYPOINT_NAMES[k] for k in np.flatnonzero(counts == 0)]
        raise DataError(f"no labelled example of {', '.join(missing)}: cannot measure its offset")
    return np.nanmean(errors, axis=0)


def training_frames(
    data: str | list[str],
    run_args: dict,
    label_x_shift: float | list[float],
    val_fraction: float,
    label_correction: str | list[str] | None = None,
    crop: str | list[str] = "labels",
) -> tuple[np.ndarray, np.ndarray]:
    """The frames train.py trained on: all of ``data`` (one source or several, each with its label x
    shift, correction and crop) when the run had a separate --val_dataset, else the training side of each
    source's person-wise split (`fkp.data.split_dataset`), never the validation people."""
    from .data import load_source, split_dataset, to_arrays

    sources = per_source(data)
    shifts = per_source(label_x_shift, len(sources))
    corrections = per_source(label_correction or "none", len(sources))
    crops = per_source(crop, len(sources))
    parts = []
    for source, shift, correction, source_crop in zip(sources, shifts, corrections, crops):
        dataset = load_source(
            source,
            label_x_shift=shift,
            label_correction=None if correction == "none" else correction,
            crop=source_crop,
        )
        if not run_args.get("val_dataset"):
            dataset = split_dataset(dataset, val_fraction)[0]
        parts.append(to_arrays(dataset))
    return np.concatenate([images for images, _ in parts]), np.concatenate([keypoints for _, keypoints in parts])


def write_json_atomically(path: Path, record: dict) -> None:
    """Replace ``path`` in one step, so that an interrupted write never leaves half a file."""
    import os
    import tempfile

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".json")
    with os.fdopen(handle, "w") as out:
        json.dump(record, out, indent=2)
    os.chmod(temporary, path.stat().st_mode & 0o777)
    os.replace(temporary, path)


def main(argv: list[str] | None = None, prog: str = "python -m fkp.offsets") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", required=True, help="a local model folder written by train.py (its config.json is rewritten)"
    )
    parser.add_argument(
        "--data", default=None, nargs="+", help="the source(s) the model was trained on (default: the run's --dataset)"
    )
    parser.add_argument("--val-fraction", type=float, default=None, help="default: the run's --val_fraction")
    parser.add_argument(
        "--label-x-shift",
        type=float,
        nargs="+",
        default=None,
        help=LABEL_X_SHIFT_HELP + "; default: the run's --label_x_shift",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the offsets without writing config.json")
    args = parser.parse_args(argv)
    from .landmarker import FaceKeypoints  # torch: after --help has answered
    from .metrics import keypoint_metrics
    from .model import load_model

    folder = Path(args.model)
    config_path, args_path = folder / "config.json", folder / "training_args.json"
    if not config_path.is_file() or not args_path.is_file():
        parser.error(
            f"{args.model}: not a model folder written by train.py (config.json and training_args.json), "
            "so which people it trained on is unknown"
        )
    run_args = json.loads(args_path.read_text())
    data = args.data or run_args.get("dataset")
    trained_shift = run_args.get("label_x_shift", 0.0)
    shift = trained_shift if args.label_x_shift is None else args.label_x_shift
    correction = run_args.get("label_correction", "none")
    crop = run_args.get("crop", "labels")  # offsets for the frames the model trained on (e.g. detector crops)
    fraction = run_args.get("val_fraction", VAL_FRACTION) if args.val_fraction is None else args.val_fraction
    if per_source(shift) != per_source(trained_shift) or fraction != run_args.get("val_fraction", VAL_FRACTION):
        trained = run_args.get("val_fraction", VAL_FRACTION)
        print(
            f"warning: the model was trained with --label_x_shift {' '.join(map(str, per_source(trained_shift)))} "
            f"--val_fraction {trained:g}; calibrating with {' '.join(map(str, per_source(shift)))} and {fraction:g}",
            file=sys.stderr,
        )
    if not data:
        parser.error("pass --data: the run recorded no --dataset")
    if any(len(per_source(value)) not in (1, len(per_source(data))) for value in (shift, correction, crop)):
        parser.error("give one --label-x-shift, or one per --data source (the run's label corrections and crops too)")
    # bad data: a DataError, before the model loads
    images, labels = training_frames(data, run_args, shift, fraction, correction, crop)
    model = load_model(Path(args.model))  # a Path: the folder given, even one named like a shipped model
    if len(images) == 0:
        parser.error(f"{data}: no training frames")

    config = json.loads(config_path.read_text())
    print(
        f"{len(images)} training frames of {' '.join(per_source(data))} (label x shift "
        f"{' '.join(map(str, per_source(shift)))}, correction {' '.join(per_source(correction))}, "
        f"crop {' '.join(per_source(crop))}, validation people left out)"
    )
    predictor = FaceKeypoints(without_offsets(model))  # offsets are measured from the raw predictions
    for key, flip in (("keypoint_offsets", False), ("flip_keypoint_offsets", True)):
        predicted = predictor.predict_frames(images, flip_test=flip)[0]
        offsets = mean_errors(predicted, labels)
        config[key] = np.round(offsets, 4).tolist()
        before, after = (
            keypoint_metrics(predicted, labels)["rmse"],
            keypoint_metrics(predicted - offsets, labels)["rmse"],
        )
        print(f"\n{'with' if flip else 'without'} flip test: RMSE on these frames {before:.3f} -> {after:.3f} px")
        print(f"  {'keypoint':28s} {'dx':>6s} {'dy':>6s}")
        for name, (dx, dy) in zip(KEYPOINT_NAMES, offsets):
            print(f"  {name:28s} {dx:+6.2f} {dy:+6.2f}")
    if args.dry_run:
        print("\n--dry-run: config.json not changed")
        return 0
    try:
        write_json_atomically(config_path, config)
    except OSError as error:
        print(f"{prog}: cannot write {config_path}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"\nwrote the offsets into {config_path}")
    return 0


if __name__ == "__main__":
    from .errors import run_cli

    raise SystemExit(run_cli(main, prog="python -m fkp.offsets"))
