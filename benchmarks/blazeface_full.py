"""Short-range BlazeFace ("blazeface", several windows per photo) against full-range BlazeFace
("blazeface_full", one 192x192 pass for most photos), in one run.

    python benchmarks/blazeface_full.py --data ../shared/data/ytf68 --label-x-shift -1.3 \
        --data ../shared/data/helen_afw68 --label-x-shift 0
    python benchmarks/blazeface_full.py --data ../shared/data/ytf68 --label-x-shift -1.3 --shares

Per data set (its validation photos, `--split val` of train.py's person-wise split) and detector:
faces missed (the labelled face's keypoint centroid in no returned box), NME of the faces found
(photo pixels, normalised by the outer-eye-corner distance; as `fkp evaluate --pipeline photo`),
mean ms per photo of the whole pipeline (detect, crop, model) and of the detector alone, and the
mean number of windows the detector runs; then the detector alone on the example photos (larger,
400-1600 px). ``--shares``: the share of faces each network finds in
one window where the face (its Kaggle-like crop side) covers a given share of the window side
(what `FACE_SHARE` is set from).
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
from fkp.detect import create_detector, match_face  # noqa: E402
from fkp.framing import landmark_crop  # noqa: E402
from fkp.keypoints import ibug68_to_kaggle  # noqa: E402
from fkp.metrics import keypoint_metrics  # noqa: E402
from fkp.pipeline import predict_photo  # noqa: E402

DETECTORS = ("blazeface", "blazeface_full")


def validation_photos(folder: str, label_x_shift: float, every: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    rows = [
        (photo, landmarks)
        for name, person, photo, landmarks in read_ytf68_photos(folder, label_x_shift=label_x_shift)
        if in_validation(person, name, VAL_FRACTION)
    ]
    return rows[::every]


def score(predictor, detector, cases) -> dict:
    """Missed share, NME, mean ms per photo of the pipeline and of the detector, mean windows."""
    predicted, targets, missed, pipeline_s, detector_s = [], [], 0, [], []
    for photo, landmarks in cases:
        start = time.perf_counter()
        faces = predict_photo(predictor, photo, detector)
        pipeline_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        detector.detect(photo)
        detector_s.append(time.perf_counter() - start)
        index = match_face([face.box for face in faces], landmarks)
        if index is None:
            missed += 1
            continue
        predicted.append(faces[index].keypoints)
        targets.append(ibug68_to_kaggle(landmarks))
    nme = keypoint_metrics(np.array(predicted), np.array(targets))["nme"] if predicted else float("nan")
    return {
        "n": len(cases),
        "missed": missed,
        "nme": nme,
        "ms": 1000 * statistics.mean(pipeline_s),
        "detect_ms": 1000 * statistics.mean(detector_s),
        "windows": statistics.mean(len(detector.windows(*p.shape[:2])) for p, _ in cases),
    }


def shares(detectors: dict, cases, levels=(0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 0.7)) -> None:
    """Share of faces found in one window (the detector's own window size) per face share of the window."""
    print(f"\nfaces found in one window, by the face's crop side as a share of the window ({len(cases)} faces)")
    print(f"{'share':>6s} " + " ".join(f"{name:>15s}" for name in detectors))
    for share in levels:
        row = []
        for detector in detectors.values():
            size = detector._window([np.zeros((8, 8, 3), np.uint8)], 0, 0, 8).shape[0]
            found = 0
            for photo, landmarks in cases:
                centre, side = landmark_crop(landmarks)
                scale = share * size / side
                matrix = np.array(
                    [[scale, 0, size / 2 - centre[0] * scale], [0, scale, size / 2 - centre[1] * scale]], np.float64
                )
                interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
                small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=interpolation)
                window = np.full((size, size, 3), 128, np.uint8)
                x0, y0 = int(round(matrix[0, 2])), int(round(matrix[1, 2]))
                # paste the resized photo so that the face centre lands in the window centre
                sy, sx = max(0, -y0), max(0, -x0)
                dy, dx = max(0, y0), max(0, x0)
                h = min(small.shape[0] - sy, size - dy)
                w = min(small.shape[1] - sx, size - dx)
                if h > 0 and w > 0:
                    window[dy : dy + h, dx : dx + w] = small[sy : sy + h, sx : sx + w]
                boxes = detector.detect(window)  # a window-sized photo: one window
                moved = (landmarks + 0.5) * scale - 0.5 + [x0, y0]
                found += match_face(boxes, moved) is not None
            row.append(found / len(cases))
        print(f"{share:6.2f} " + " ".join(f"{r:15.1%}" for r in row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help="a ytf68-layout folder (repeatable)")
    parser.add_argument(
        "--label-x-shift", type=float, action="append", default=[], help="per --data (default 0; ytf68: -1.3)"
    )
    parser.add_argument("--every", type=int, default=1, help="use every N-th validation photo")
    parser.add_argument("--shares", action="store_true", help="only the one-window share measurement")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    shifts = args.label_x_shift + [0.0] * (len(args.data) - len(args.label_x_shift))
    print("command: python benchmarks/blazeface_full.py " + " ".join(sys.argv[1:]))

    import torch

    from fkp import FaceKeypoints

    torch.set_num_threads(2)
    detectors = {name: create_detector(name) for name in DETECTORS}
    if args.shares:
        cases = validation_photos(args.data[0], shifts[0], args.every)
        shares(detectors, cases[:: max(1, len(cases) // 100)][:100])
        return
    predictor = FaceKeypoints(args.model)
    print(f"model {predictor.model.__class__.__name__} ({predictor.backend}), torch threads 2\n")
    print(
        f"{'data (val)':14s} {'detector':15s} {'photos':>6s} {'missed':>6s} {'NME':>7s} "
        f"{'ms/photo':>9s} {'detect ms':>9s} {'windows':>7s}"
    )
    for folder, shift in zip(args.data, shifts):
        cases = validation_photos(folder, shift, args.every)
        for detector in detectors.values():  # warm-up
            predict_photo(predictor, cases[0][0], detector)
        for name, detector in detectors.items():
            r = score(predictor, detector, cases)
            print(
                f"{Path(folder).name:14s} {name:15s} {r['n']:6d} {r['missed']:6d} {r['nme']:7.4f} "
                f"{r['ms']:9.1f} {r['detect_ms']:9.1f} {r['windows']:7.2f}",
                flush=True,
            )

    print("\ndetector alone on the example photos (median of 10 runs, ms; windows)")
    print(f"{'photo':24s} {'size':>10s} " + " ".join(f"{name:>20s}" for name in detectors))
    from fkp.images import load_photo

    for path in sorted((ROOT / "examples").glob("*.jpg")):
        photo = load_photo(path)
        cells = []
        for detector in detectors.values():
            detector.detect(photo)
            runs = []
            for _ in range(10):
                start = time.perf_counter()
                detector.detect(photo)
                runs.append(time.perf_counter() - start)
            cells.append(f"{1000 * statistics.median(runs):8.1f} ms {len(detector.windows(*photo.shape[:2])):4d} w")
        size = f"{photo.shape[1]}x{photo.shape[0]}"
        print(f"{path.name:24s} {size:>10s} " + " ".join(f"{c:>20s}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
