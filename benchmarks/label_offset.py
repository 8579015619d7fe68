"""Measure a horizontal bias of a ytf68-layout folder's labels with two independent landmarkers.

    python benchmarks/label_offset.py --data ../shared/data/ytf68 [--every 3]

1. dlib's 68-point shape predictor (pip install dlib-bin face-recognition-models; benchmark only,
   not a dependency of fkp), started from a box around the labelled face, compared point by point
   with the 68 labels, per face region.
2. fkp's own model (trained with horizontal flips, so it cannot learn a fixed x shift: a flip
   turns +d into -d), with flip test-time augmentation, compared on the 15 Kaggle points.

Both print the mean signed error (prediction - label) in photo pixels. A bias common to every
region in x, and absent in y, is a label offset: pass that mean x error as ``--label-x-shift``
(photo pixels added to every x label) to move the labels onto where the landmarkers put the points.

3. dlib's error per Kaggle keypoint in pixels of the 96x96 frame (scale-free: the frame is fitted to
   the face), the label convention of a folder relative to 300-W's (dlib's predictor was trained on
   300-W's human annotation). ``--split train`` measures on the training people only and
   ``--save-offsets FILE`` writes these (15, 2) offsets as JSON (see fkp.data.conventions).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fkp.data import read_ytf68_photos, ytf68_frame  # noqa: E402
from fkp.geometry import apply_affine, invert_affine  # noqa: E402
from fkp.keypoints import KEYPOINT_NAMES, ibug68_to_kaggle  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dlib_reference import load_dlib  # noqa: E402

REGIONS = {
    "jaw": range(0, 17),
    "brows": range(17, 27),
    "nose": range(27, 36),
    "eyes": range(36, 48),
    "mouth": range(48, 68),
}


def dlib_predictor():
    reference = load_dlib()
    if reference is None:
        return None
    _, shape, detector = reference  # the predictor was trained from this detector's boxes

    def predict(photo: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
        centre = landmarks[17:].mean(0)
        for rect in detector(photo, 1):
            if rect.left() <= centre[0] <= rect.right() and rect.top() <= centre[1] <= rect.bottom():
                return np.array([[p.x, p.y] for p in shape(photo, rect).parts()], dtype=np.float64)
        return None  # dlib found no face here

    return predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ytf68"))
    parser.add_argument(
        "--model",
        default=None,
        help="fkp model: a shipped model's name, a folder or a Hub id (default: the fast model)",
    )
    parser.add_argument("--every", type=int, default=1, help="use every N-th photo")
    parser.add_argument("--label-x-shift", type=float, default=0.0, help="photo px added to x labels when read")
    parser.add_argument("--split", choices=["all", "train"], default="all", help="train: the training people only")
    parser.add_argument("--save-offsets", default=None, help="write dlib's per-keypoint frame offsets as JSON")
    args = parser.parse_args()
    print(
        f"command: python benchmarks/label_offset.py --data {args.data} --every {args.every} "
        f"--label-x-shift {args.label_x_shift} --split {args.split}"
    )
    from fkp.data.splits import in_validation
    from fkp.landmarker import FaceKeypoints, model_source
    from fkp.model import load_model
    from fkp.offsets import without_offsets

    # without the model's calibrated keypoint offsets: they are measured against these very labels
    source = model_source(args.model)
    predictor = FaceKeypoints(without_offsets(load_model(source)), flip_test=True)
    landmarker = dlib_predictor()
    dlib_errors, dlib_frame_errors, frames, matrices, labels15 = [], [], [], [], []
    photos = read_ytf68_photos(args.data, label_x_shift=args.label_x_shift)
    for index, (row_id, person, photo, landmarks) in enumerate(photos):
        if index % args.every or (args.split == "train" and in_validation(person, row_id)):
            continue
        gray = (photo.astype(np.float32) @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)
        frame, _, matrix = ytf68_frame(gray, landmarks)
        found = None if landmarker is None else landmarker(photo, landmarks)
        if found is not None:
            dlib_errors.append(found - landmarks)
            dlib_frame_errors.append(
                apply_affine(matrix, ibug68_to_kaggle(found)) - apply_affine(matrix, ibug68_to_kaggle(landmarks))
            )
        frames.append(frame)
        matrices.append(matrix)
        labels15.append(ibug68_to_kaggle(landmarks))

    if not dlib_errors:
        print("dlib: not installed (pip install dlib-bin face-recognition-models), skipped")
    else:
        errors = np.stack(dlib_errors)  # (N, 68, 2)
        print(
            f"\ndlib 68-point predictor, {len(errors)} photos with a dlib face: "
            "mean signed error (dlib - label), photo px"
        )
        for region, indices in REGIONS.items():
            dx, dy = errors[:, list(indices)].reshape(-1, 2).mean(0)
            print(f"  {region:6s} x {dx:+.2f}   y {dy:+.2f}")
        dx, dy = errors.reshape(-1, 2).mean(0)
        print(f"  {'all':6s} x {dx:+.2f}   y {dy:+.2f}   (median x {np.median(errors[..., 0]):+.2f})")
        frame_errors = np.stack(dlib_frame_errors)  # (N, 15, 2)
        offsets = frame_errors.mean(0)
        spread = frame_errors.std(0) / np.sqrt(len(frame_errors))
        print("\ndlib - label per Kaggle keypoint, 96x96 frame px (mean +- standard error)")
        for name, (ox, oy), (sx, sy) in zip(KEYPOINT_NAMES, offsets, spread):
            print(f"  {name:26s} x {ox:+.2f} +- {sx:.2f}   y {oy:+.2f} +- {sy:.2f}")
        if args.save_offsets:
            import json

            Path(args.save_offsets).write_text(json.dumps(np.round(offsets, 3).tolist()) + "\n")
            print(f"saved to {args.save_offsets}")

    predicted, _, _ = predictor.predict_frames(np.stack(frames))
    in_photo = np.stack([apply_affine(invert_affine(m), p) for m, p in zip(matrices, predicted)])
    errors = in_photo - np.stack(labels15)  # (N, 15, 2)
    dx, dy = errors.reshape(-1, 2).mean(0)
    frame_dx = (predicted - np.stack([apply_affine(m, marks) for m, marks in zip(matrices, labels15)]))[..., 0].mean()
    print(f"\nfkp model {source} (flip-trained, flip TTA), {len(errors)} photos:")
    print(f"  15 points: x {dx:+.2f}   y {dy:+.2f} photo px   (x {frame_dx:+.2f} frame px)")


if __name__ == "__main__":
    main()
