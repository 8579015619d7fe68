"""Evaluate a model on any data source: RMSE (Kaggle's metric, pixels) and NME, overall and per keypoint.

    python -m fkp.evaluate --data ../shared/data/ytf68 --label-x-shift -1.3 --split val [--json] [--flip-test]
    python -m fkp.evaluate --pipeline photo --data ../shared/data/ytf68 --label-x-shift -1.3 --split val --json

``--split val`` scores exactly the validation people that train.py held out (same
``--val-fraction``); ``--split train`` the others; no ``--split`` scores every row.

``--pipeline frame`` (default) scores the model on 96x96 frames (framed from the labels for a
ytf68-layout folder); ``--pipeline photo`` runs the demo's own path on the full photos of a
ytf68-layout folder (face detector -> crop -> model -> photo coordinates) and reports errors in
photo pixels plus the share of faces the detector missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

import numpy as np

from .keypoints import KEYPOINT_NAMES


def evaluate_frames(predictor, data: str, split: str | None = None, label_x_shift: float = 0.0, val_fraction: float = 0.1) -> dict:
    """Metrics of ``predictor`` (a `FaceKeypoints`) on the 96x96 frames of a data source (see
    `fkp.data.load_source` for ``split``, ``label_x_shift`` and ``val_fraction``)."""
    from .data import load_source, to_arrays
    from .metrics import keypoint_metrics

    images, keypoints = to_arrays(load_source(data, split, label_x_shift=label_x_shift, val_fraction=val_fraction))
    predicted, _, _ = predictor.predict_frames(images)
    return keypoint_metrics(predicted, keypoints)


def evaluate_photos(predictor, folder: str, detector=None, split: str | None = None, label_x_shift: float = 0.0, val_fraction: float = 0.1, refine: bool = False) -> dict:
    """Metrics of the detector + crop + model pipeline on a ytf68-layout folder, in photo pixels.
    ``split`` None, "train" or "val": all photos or one side of train.py's person-wise split."""
    from .data import (
        SPLIT_SIDES,
        DataError,
        ibug68_to_kaggle,
        in_validation,
        read_ytf68_photos,
    )
    from .detect import match_face
    from .metrics import keypoint_metrics
    from .photo import default_detector, predict_photo

    detector = detector or default_detector()
    predicted, targets, photos, missed = [], [], 0, []
    if split is not None and split not in SPLIT_SIDES:
        raise DataError(f"{folder}: a photo folder has no named split {split!r}; use 'train' or 'val'")
    for name, person, photo, landmarks in read_ytf68_photos(folder, label_x_shift=label_x_shift):
        if split is not None and in_validation(person, name, val_fraction) != (split == "val"):
            continue
        photos += 1
        faces = predict_photo(predictor, photo, detector, refine=refine)
        index = match_face([face.box for face in faces], landmarks)
        if index is None:
            missed.append(name)
            continue
        predicted.append(faces[index].keypoints)
        targets.append(ibug68_to_kaggle(landmarks))
    metrics = keypoint_metrics(np.array(predicted).reshape(-1, 15, 2), np.array(targets).reshape(-1, 15, 2))
    metrics.update(n_photos=photos, n_missed=len(missed), missed_share=len(missed) / max(photos, 1), missed=missed, units="photo pixels")
    return metrics


def format_report(metrics: dict) -> str:
    lines = [f"images {metrics['n_images']}, points {metrics['n_points']}", f"RMSE {metrics['rmse']:.3f} px   NME {metrics['nme']:.4f}", "", f"{'keypoint':28s} {'RMSE':>7s} {'NME':>7s} {'count':>6s}"]
    for name in KEYPOINT_NAMES:
        row = metrics["per_keypoint"][name]
        lines.append(f"{name:28s} {row['rmse']:7.3f} {row['nme']:7.4f} {row['count']:6d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "python -m fkp.evaluate") -> None:
    from .api import FaceKeypoints, default_model_source
    from .data import LABEL_X_SHIFT_HELP
    from .detect import DETECTORS

    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or Hub id (default: $FKP_MODEL or the shipped weights)")
    parser.add_argument("--data", required=True, help="any fkp data source")
    parser.add_argument("--split", default=None, help="'val' / 'train': one side of train.py's person-wise split; or a named split of a Hub / save_to_disk dataset (default: every row)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="train.py's --val_fraction (default 0.1)")
    parser.add_argument("--label-x-shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    parser.add_argument("--pipeline", choices=["frame", "photo"], default="frame", help="frame: 96x96 frames; photo: detector + crop + model on full photos")
    parser.add_argument("--flip-test", action="store_true", help="flip test-time augmentation")
    parser.add_argument("--detector", choices=sorted(DETECTORS), default="blazeface", help="with --pipeline photo: the face detector")
    parser.add_argument("--refine", action="store_true", help="with --pipeline photo: a second pass on a crop re-fitted to the first pass's keypoints")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    predictor = FaceKeypoints(args.model or default_model_source(), flip_test=args.flip_test)
    options = dict(split=args.split, label_x_shift=args.label_x_shift, val_fraction=args.val_fraction)
    if args.pipeline == "photo":
        metrics = evaluate_photos(predictor, args.data, DETECTORS[args.detector](), refine=args.refine, **options)
        metrics.update(detector=args.detector, refine=args.refine)
    else:
        metrics = evaluate_frames(predictor, args.data, **options)
    metrics.update(model=args.model or default_model_source(), data=args.data, **options)
    with exit_quietly_on_broken_pipe():
        if args.json:
            json.dump(metrics, sys.stdout, allow_nan=True)
            print()
        else:
            print(format_report(metrics))
            if args.pipeline == "photo":
                print(f"photos {metrics['n_photos']}, faces missed by the detector {metrics['n_missed']} ({metrics['missed_share']:.1%}); errors in photo pixels")


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
    main()
