"""Whole-photo robustness: faces turned in-plane, panoramas and very large canvases, for the Haar
detector (fkp's old default) against BlazeFace (the default), in one run.

    python benchmarks/robustness.py --data ../shared/data/ytf68 --label-x-shift -1.3 [--every 1]

Photos: the validation people of train.py's person-wise split (`--split val`), each turned by 0,
±15, ±30 and ±45 degrees about its centre on an expanded canvas (black corners), landmarks moved
with the image. Per angle and detector: faces missed (the labelled face's keypoint centroid in no
returned box), NME of the faces found (photo pixels, normalised by the outer-eye-corner distance)
and mean time per photo of the whole pipeline (detect, crop, model). Then a panorama case (the
face resized to 300 px high inside an 8000x300 strip), a large-canvas case (a 512x600 photo in
the middle of a 12000x12000 canvas), and the detector + crop time on the example photos.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fkp.data import VAL_FRACTION, in_validation, read_ytf68_photos  # noqa: E402
from fkp.detect import (  # noqa: E402
    BlazeFaceDetector,
    HaarFaceDetector,
    match_face,  # noqa: E402
)
from fkp.geometry import apply_affine, rotate_photo, warp  # noqa: E402
from fkp.images import load_photo  # noqa: E402
from fkp.keypoints import ibug68_to_kaggle  # noqa: E402
from fkp.metrics import keypoint_metrics  # noqa: E402
from fkp.pipeline import predict_photo  # noqa: E402


def turned(photo: np.ndarray, landmarks: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo turned by ``angle`` degrees on an expanded canvas, and its landmarks moved with it."""
    image, matrix = rotate_photo(photo, angle)
    return image, apply_affine(matrix, landmarks)


def placed(
    photo: np.ndarray, landmarks: np.ndarray, canvas_size: tuple[int, int], face_height: int, rng
) -> tuple[np.ndarray, np.ndarray]:
    """The photo resized to ``face_height`` rows, pasted at a random place of a (H, W) canvas of
    low-frequency noise (no faces in it); landmarks moved with it."""
    height, width = canvas_size
    scale = face_height / photo.shape[0]
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    noise = rng.integers(40, 220, size=(max(2, height // 64), max(2, width // 64), 3), dtype=np.uint8)
    canvas = cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)
    y0 = int(rng.integers(0, height - small.shape[0] + 1))
    x0 = int(rng.integers(0, width - small.shape[1] + 1))
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    points = (landmarks + 0.5) * scale - 0.5 + [x0, y0]
    return canvas, points


def score(predictor, detector, cases) -> dict:
    """Missed share, NME and mean seconds per photo of the pipeline over (photo, landmarks) cases."""
    predicted, targets, missed, seconds = [], [], 0, []
    for photo, landmarks in cases:
        start = time.perf_counter()
        faces = predict_photo(predictor, photo, detector)
        seconds.append(time.perf_counter() - start)
        index = match_face([face.box for face in faces], landmarks)
        if index is None:
            missed += 1
            continue
        predicted.append(faces[index].keypoints)
        targets.append(ibug68_to_kaggle(landmarks))
    nme = keypoint_metrics(np.array(predicted), np.array(targets))["nme"] if predicted else float("nan")
    return {
        "n": len(seconds),
        "missed": missed / max(len(seconds), 1),
        "nme": nme,
        "ms": 1000 * statistics.mean(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ytf68"))
    parser.add_argument("--label-x-shift", type=float, default=-1.3)
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION)
    parser.add_argument("--every", type=int, default=1, help="use every N-th validation photo")
    parser.add_argument("--model", default=None)
    parser.add_argument("--canvases", type=int, default=4, help="large-canvas cases (each 12000x12000)")
    args = parser.parse_args()
    print(
        f"command: python benchmarks/robustness.py --data {args.data} "
        f"--label-x-shift {args.label_x_shift} --every {args.every}"
    )

    import torch

    from fkp import FaceKeypoints

    torch.set_num_threads(2)
    predictor = FaceKeypoints(args.model)
    detectors = {"haar": HaarFaceDetector(), "blazeface": BlazeFaceDetector()}
    people = [
        (p, marks)
        for i, (name, person, p, marks) in enumerate(
            r
            for r in read_ytf68_photos(args.data, label_x_shift=args.label_x_shift)
            if in_validation(r[1], r[0], args.val_fraction)
        )
        if i % args.every == 0
    ]
    print(f"{len(people)} validation photos; model {predictor.model.__class__.__name__} ({predictor.backend})\n")

    print(f"{'case':22s} {'detector':10s} {'photos':>6s} {'missed':>7s} {'NME':>7s} {'ms/photo':>9s}")
    for angles in ((0,), (15, -15), (30, -30), (45, -45)):
        cases = [turned(p, marks, a) for p, marks in people for a in angles]
        label = "upright" if angles == (0,) else f"turned ±{angles[0]}°"
        for name, detector in detectors.items():
            r = score(predictor, detector, cases)
            print(f"{label:22s} {name:10s} {r['n']:6d} {r['missed']:7.1%} {r['nme']:7.4f} {r['ms']:9.1f}", flush=True)

    rng = np.random.default_rng(0)
    panoramas = [placed(p, marks, (300, 8000), 300, rng) for p, marks in people[:: max(1, len(people) // 20)]]
    rng = np.random.default_rng(1)
    canvases = [
        placed(p, marks, (12000, 12000), 600, rng)
        for p, marks in people[:: max(1, len(people) // args.canvases)][: args.canvases]
    ]
    for label, cases in (("panorama 8000x300", panoramas), ("canvas 12000x12000", canvases)):
        for name, detector in detectors.items():
            r = score(predictor, detector, cases)
            print(f"{label:22s} {name:10s} {r['n']:6d} {r['missed']:7.1%} {r['nme']:7.4f} {r['ms']:9.1f}", flush=True)
    del canvases

    print("\ndetector + crop on the example photos (median of 20 runs, ms):")
    print(f"{'photo':26s} {'haar':>8s} {'blazeface':>10s} {'ratio':>7s}")
    ratios = []
    for path in sorted((ROOT / "examples").glob("*.jpg")):
        photo = load_photo(path)
        gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
        times = {}
        for name, detector in detectors.items():

            def detect_and_crop():
                pyramid = [gray]
                return [warp(gray, detector.crop(box), pyramid=pyramid) for box in detector.detect(photo)]

            detect_and_crop()
            runs = []
            for _ in range(20):
                start = time.perf_counter()
                detect_and_crop()
                runs.append(time.perf_counter() - start)
            times[name] = statistics.median(runs)
        ratios.append(times["haar"] / times["blazeface"])
        print(f"{path.name:26s} {times['haar'] * 1000:8.1f} {times['blazeface'] * 1000:10.1f} {ratios[-1]:6.2f}x")
    print(
        f"BlazeFace detector + crop is {statistics.geometric_mean(ratios):.2f}x as fast as Haar "
        "(geometric mean over the examples)"
    )


if __name__ == "__main__":
    main()
