"""Evaluate a model on any data source: RMSE (Kaggle's metric, pixels) and NME, overall and per keypoint.

    python -m fkp.evaluate --data ../shared/data/ytf68 --label-x-shift -1.3 --split val [--json] [--flip-test]
    python -m fkp.evaluate --pipeline photo --data ../shared/data/ytf68 --label-x-shift -1.3 --split val --json
    python -m fkp.evaluate --data ../shared/data/ytf68 ../shared/data/helen_afw68 --label-x-shift -1.3 0 \
        --label-correction ytf68 none --split val        # each source's figures, as train.py reads them

``--split val`` scores exactly the validation people that train.py held out (same
``--val-fraction``); ``--split train`` the others; no ``--split`` scores every row.

``--pipeline frame`` (default) scores the model on 96x96 frames (framed from the labels for a
ytf68-layout folder); ``--pipeline photo`` runs the demo's own path on the full photos of a
ytf68-layout folder (face detector -> crop -> model -> photo coordinates) and reports errors in
photo pixels plus the share of faces the detector missed.

Bad data (a ragged row, a keypoint outside its image beyond half the image's side, ...) stops with a
one-line error naming the file, line and field (exit status 2; ``--debug`` shows a traceback);
``--skip-bad-rows`` skips such rows instead and reports how many (``n_skipped`` in --json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

import numpy as np

from .errors import DataError
from .keypoints import KEYPOINT_NAMES, ibug68_to_kaggle
from .options import (  # fkp.data (pandas) loads when used
    CROP_HELP,
    LABEL_X_SHIFT_HELP,
    SKIP_BAD_ROWS_HELP,
    VAL_FRACTION,
    crop_value,
    per_source,
)
from .shipped import MODEL_HELP, model_source


def load_frames(
    data: str,
    split: str | None = None,
    label_x_shift: float = 0.0,
    val_fraction: float = VAL_FRACTION,
    on_error: str = "raise",
    skipped: list[str] | None = None,
    label_correction: str | None = None,
    crop: str = "labels",
) -> tuple[np.ndarray, np.ndarray]:
    """The (N, 96, 96) images and (N, 15, 2) keypoints of a data source to evaluate on (see
    `fkp.data.load_source` for the arguments); a DataError when the split has no rows."""
    from .data import load_source, to_arrays

    dataset = load_source(
        data,
        split,
        on_error=on_error,
        label_x_shift=label_x_shift,
        val_fraction=val_fraction,
        skipped=skipped,
        label_correction=label_correction,
        crop=crop,
    )
    if len(dataset) == 0:
        raise DataError(f"{data}: no rows to evaluate on" + (f" in split {split!r}" if split else ""))
    return to_arrays(dataset)


def evaluate_frames(
    predictor,
    data: str,
    split: str | None = None,
    label_x_shift: float = 0.0,
    val_fraction: float = VAL_FRACTION,
    on_error: str = "raise",
    frames: tuple[np.ndarray, np.ndarray] | None = None,
    label_correction: str | None = None,
    crop: str = "labels",
) -> dict:
    """Metrics of ``predictor`` (a `FaceKeypoints`) on the 96x96 frames of a data source (see
    `load_frames`), or on ``frames`` (images, keypoints) already loaded from it. When it loads them
    with ``on_error="skip"``, bad rows are left out and counted in "n_skipped"."""
    from .metrics import keypoint_metrics

    skipped: list[str] = []
    loads = frames is None
    images, keypoints = (
        load_frames(data, split, label_x_shift, val_fraction, on_error, skipped, label_correction, crop)
        if loads
        else frames
    )
    predicted, _, _ = predictor.predict_frames(images)
    metrics = keypoint_metrics(predicted, keypoints)
    if loads and on_error == "skip":
        metrics["n_skipped"] = len(skipped)
    return metrics


def evaluate_photos(
    predictor,
    folder: str,
    detector=None,
    split: str | None = None,
    label_x_shift: float = 0.0,
    val_fraction: float = VAL_FRACTION,
    refine: bool = False,
    on_error: str = "raise",
    label_correction: str | None = None,
) -> dict:
    """Metrics of the detector + crop + model pipeline on a ytf68-layout folder, in photo pixels.
    ``split`` None, "train" or "val": all photos or one side of train.py's person-wise split.
    ``label_correction``: see `fkp.data.conventions` (frame pixels, mapped into each photo).
    ``on_error``: see `fkp.data.read_ytf68_photos` ("skip" adds "n_skipped")."""
    from .data import SPLIT_SIDES, in_validation, read_ytf68_photos, ytf68_frame
    from .data.conventions import label_correction as correction_for
    from .detect import match_face
    from .geometry import apply_affine, invert_affine
    from .metrics import keypoint_metrics
    from .pipeline import default_detector, predict_photo

    detector = detector or default_detector()
    predicted, targets, photos, missed = [], [], 0, []
    if split is not None and split not in SPLIT_SIDES:
        raise DataError(f"{folder}: a photo folder has no named split {split!r}; use 'train' or 'val'")
    skipped: list[str] = []
    correction = correction_for(label_correction)
    for name, person, photo, landmarks in read_ytf68_photos(folder, on_error, label_x_shift, skipped):
        if split is not None and in_validation(person, name, val_fraction) != (split == "val"):
            continue
        photos += 1
        faces = predict_photo(predictor, photo, detector, refine=refine)
        index = match_face([face.box for face in faces], landmarks)
        if index is None:
            missed.append(name)
            continue
        predicted.append(faces[index].keypoints)
        target = ibug68_to_kaggle(landmarks)
        if correction is not None:  # corrected in the frame the labels define, as train.py reads them
            _, frame_keypoints, matrix = ytf68_frame(photo[..., 0], landmarks)
            target = apply_affine(invert_affine(matrix), frame_keypoints + correction)
        targets.append(target)
    if photos == 0:
        raise DataError(f"{folder}: no photos to evaluate on" + (f" in split {split!r}" if split else ""))
    metrics = keypoint_metrics(np.array(predicted).reshape(-1, 15, 2), np.array(targets).reshape(-1, 15, 2))
    if on_error == "skip":
        metrics["n_skipped"] = len(skipped)
    metrics.update(
        n_photos=photos,
        n_missed=len(missed),
        missed_share=len(missed) / max(photos, 1),
        missed=missed,
        units="photo pixels",
    )
    return metrics


def format_report(metrics: dict) -> str:
    """The metrics as a table (overall, then per keypoint)."""
    skipped = f", bad rows skipped {metrics['n_skipped']}" if "n_skipped" in metrics else ""
    lines = [
        f"images {metrics['n_images']}, points {metrics['n_points']}{skipped}",
        f"RMSE {metrics['rmse']:.3f} px   NME {metrics['nme']:.4f}",
        "",
        f"{'keypoint':28s} {'RMSE':>7s} {'NME':>7s} {'count':>6s}",
    ]
    for name in KEYPOINT_NAMES:
        row = metrics["per_keypoint"][name]
        lines.append(f"{name:28s} {row['rmse']:7.3f} {row['nme']:7.4f} {row['count']:6d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "python -m fkp.evaluate") -> None:
    from .detect import DEFAULT_DETECTOR, DETECTORS, create_detector  # (light: the detectors load when built)

    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument(
        "--data", required=True, nargs="+", help="any fkp data source; several: figures for each source"
    )
    parser.add_argument(
        "--split",
        default=None,
        help=(
            "'val' / 'train': one side of train.py's person-wise split; "
            "or a named split of a Hub / save_to_disk dataset (default: every row)"
        ),
    )
    parser.add_argument(
        "--val-fraction", type=float, default=VAL_FRACTION, help=f"train.py's --val_fraction (default {VAL_FRACTION:g})"
    )
    parser.add_argument(
        "--label-x-shift", type=float, nargs="+", default=[0.0], help=LABEL_X_SHIFT_HELP + "; one, or one per --data"
    )
    parser.add_argument(
        "--label-correction",
        nargs="+",
        default=["none"],
        help="'none', 'ytf68' (ytf68's labels onto 300-W's convention, fkp.data.conventions; with "
        "--label-x-shift -1.3) or a JSON file of 15 [dx, dy] frame-pixel pairs; one, or one per --data",
    )
    parser.add_argument(
        "--crop",
        nargs="+",
        type=crop_value,
        default=None,
        help="with --pipeline frame: " + CROP_HELP + "; one, or one per --data",
    )
    parser.add_argument(
        "--pipeline",
        choices=["frame", "photo"],
        default="frame",
        help="frame: 96x96 frames; photo: detector + crop + model on full photos",
    )
    parser.add_argument("--flip-test", action="store_true", help="flip test-time augmentation")
    parser.add_argument(
        "--detector",
        choices=sorted(DETECTORS),
        default=DEFAULT_DETECTOR,
        help="with --pipeline photo: the face detector",
    )
    parser.add_argument(
        "--refine",
        action="store_true",
        help="with --pipeline photo: a second pass on a crop re-fitted to the first pass's keypoints",
    )
    parser.add_argument("--skip-bad-rows", action="store_true", help=SKIP_BAD_ROWS_HELP)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    source = model_source(args.model)  # a model that is nowhere is named before any data loads
    from .landmarker import FaceKeypoints  # torch: after --help has answered

    if args.crop is not None and args.pipeline == "photo":
        parser.error("--crop is for --pipeline frame: the photo pipeline crops where its detector puts each face")
    for name in ("label_x_shift", "label_correction", "crop"):
        if len(getattr(args, name) or [None]) not in (1, len(args.data)):
            parser.error(f"--{name.replace('_', '-')}: give one value, or one per --data")
    shifts = per_source(args.label_x_shift, len(args.data))
    corrections = per_source(args.label_correction, len(args.data))
    crops = per_source(args.crop or "labels", len(args.data))
    on_error = "skip" if args.skip_bad_rows else "raise"
    runs = []
    for data, shift, correction, crop in zip(args.data, shifts, corrections, crops):
        options = dict(split=args.split, label_x_shift=shift, val_fraction=args.val_fraction)
        options["label_correction"] = None if correction == "none" else correction
        if args.pipeline == "frame":  # bad data is reported before the model loads
            options["crop"] = crop
            skipped: list[str] = []
            runs.append((data, options, load_frames(data, on_error=on_error, skipped=skipped, **options), skipped))
        else:
            runs.append((data, options, None, None))
    predictor = FaceKeypoints(source, flip_test=args.flip_test)
    results = {}
    for data, options, frames, skipped in runs:
        if args.pipeline == "photo":
            detector = create_detector(args.detector)
            metrics = evaluate_photos(predictor, data, detector, refine=args.refine, on_error=on_error, **options)
            metrics.update(detector=args.detector, refine=args.refine)
        else:
            metrics = evaluate_frames(predictor, data, frames=frames, **options)
            if args.skip_bad_rows:
                metrics["n_skipped"] = len(skipped)
        metrics.update(model=args.model or source, data=data, **options)
        results[data] = metrics
    with exit_quietly_on_broken_pipe():
        if args.json:
            output = next(iter(results.values())) if len(results) == 1 else {"sources": results}
            json.dump(output, sys.stdout, allow_nan=True)
            print()
            return
        for data, metrics in results.items():
            if len(results) > 1:
                print(f"== {data}")
            print(format_report(metrics))
            if args.pipeline == "photo":
                print(
                    f"photos {metrics['n_photos']}, faces missed by the detector {metrics['n_missed']} "
                    f"({metrics['missed_share']:.1%}); errors in photo pixels"
                )
            if len(results) > 1:
                print()
        if len(results) > 1:
            print(f"{'source':40s} {'RMSE':>7s} {'NME':>7s} {'images':>7s}")
            for data, metrics in results.items():
                print(f"{data:40s} {metrics['rmse']:7.3f} {metrics['nme']:7.4f} {metrics['n_images']:7d}")


@contextlib.contextmanager
def exit_quietly_on_broken_pipe():
    """Let `... | head` close the pipe early without a traceback or a failing exit status."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit, which would raise once more: point it at devnull
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    from .errors import run_cli

    sys.exit(run_cli(main, prog="python -m fkp.evaluate"))
