"""Window schemes for finding faces, compared in one interleaved run: which BlazeFace model, which
windows, and whether to stop at the first scale that finds a face.

    python benchmarks/blazeface_full.py                     # every case set below
    python benchmarks/blazeface_full.py --sets helen,helen400,examples --every 2
    python benchmarks/blazeface_full.py --shares            # what FACE_SHARE is set from

Schemes:
    blazeface            the short-range model (128x128): the whole photo, then windows of half the
                         size with 50% overlap, down to windows where a 64-px face fills 20%
    blazeface_full       the full-range model (192x192): the whole photo at once, smaller windows only
                         where a 64-px face would cover less than 9% of it (large photos, panoramas)
    NAME+stop            the same windows, scale by scale from the largest, stopping after the first
                         scale that finds a face
    cheaper              per photo, whichever of the two costs less: its windows times its cost per
                         window (a full-range window costs 2.2 short-range ones, measured)

Case sets (the validation photos of train.py's person-wise split, as `fkp evaluate --split val`):
    helen      helen_afw68 as stored (one labelled face each, ~320 px)
    helen400   the same photos resized to 400 px on their longer side
    ytf68      ytf68 (labels x-corrected by -1.3 px), every 3rd photo
    turned     helen photos turned by +45 and -45 degrees on an expanded canvas, every 2nd photo
    close      close-ups: helen photos cropped around the face so that its crop fills 90% of the height,
               at 400x400 and 640x480 (every other photo each; borders mirrored)
    small      helen photos reduced so that the face's crop is 64-80 px, at a random place of a 640x480
               canvas of smooth noise, every 4th photo
    mixed      two faces on a 1280x720 canvas of smooth noise: one photo at 500 px, another reduced so
               that its face's crop is 64-80 px, on the other side; every 8th pair
    panorama   the face 300 px high in an 8000x300 strip, every 8th photo
    canvas     the photo at 600 px in a 12000x12000 canvas, 4 photos
    examples   the example photos: 15 faces expected (1, 1, 1, 10, 2; none on the cat)

Per set and scheme: labelled faces found by the whole pipeline (`predict_photo`, face score
threshold applied) and missed, other faces returned (not the labelled one: real unlabelled faces in
AFW's group photos, or false detections), NME of the faces found (outer-eye-corner distance, photo
pixels), detector passes (windows) per photo (mean and largest), and median ms per photo of the
detector alone and of the pipeline. All schemes run on each photo before the next photo (interleaved),
so a busy machine slows them alike.
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
from fkp.detect import FaceDetector, create_detector, match_face  # noqa: E402
from fkp.framing import landmark_crop  # noqa: E402
from fkp.geometry import apply_affine, rotate_photo  # noqa: E402
from fkp.keypoints import ibug68_to_kaggle  # noqa: E402
from fkp.metrics import keypoint_metrics  # noqa: E402
from fkp.pipeline import predict_photo  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SETS = ("helen", "helen400", "ytf68", "turned", "close", "small", "mixed", "panorama", "canvas", "examples")
EXAMPLE_FACES = {"eileen_collins.jpg": 1, "grace_hopper.jpg": 1, "hopper_exif_rotated.jpg": 1, "no_face_cat.jpg": 0}
EXAMPLE_FACES |= {"ten_faces.jpg": 10, "two_faces.jpg": 2}


class EarlyStop(FaceDetector):
    """A BlazeFace detector's windows run scale by scale, largest first, stopping after the first scale
    at which any face is found (`passes`: the windows the last `detect` ran)."""

    def __init__(self, detector):
        self.inner, self.name, self.passes = detector, detector.name + "+stop", 0
        self.scores_are_probabilities = detector.scores_are_probabilities

    def detect(self, photo: np.ndarray) -> list:
        height, width = photo.shape[:2]
        windows, pyramid, found, self.passes = self.inner.windows(height, width), [photo], [], 0
        for side in sorted({w[2] for w in windows}, reverse=True):
            level = [w for w in windows if w[2] == side]
            found.append(self.inner.detections(photo, level, pyramid))
            self.passes += len(level)
            boxes = self.inner.boxes(np.concatenate(found), height, width)
            if boxes:
                return boxes
        return []

    def crop(self, box) -> np.ndarray:
        return self.inner.crop(box)

    def frame_scores(self, frames: np.ndarray):
        return self.inner.frame_scores(frames)

    def windows(self, height: int, width: int) -> list:
        return self.inner.windows(height, width)


class Cheaper(FaceDetector):
    """Per photo, whichever of the short-range and full-range detectors costs less on it: its windows
    times its cost per window (a full-range window costs ``RATIO`` short-range ones, measured)."""

    RATIO = 2.2

    def __init__(self, short, full):
        self.short, self.full, self.name, self.last = short, full, "cheaper", short
        self.scores_are_probabilities = True

    def choose(self, height: int, width: int):
        short, full = len(self.short.windows(height, width)), len(self.full.windows(height, width))
        return self.short if short <= self.RATIO * full else self.full

    def detect(self, photo: np.ndarray) -> list:
        self.last = self.choose(*photo.shape[:2])
        return self.last.detect(photo)

    def crop(self, box) -> np.ndarray:
        return self.last.crop(box)  # the detector of the last photo (predict_photo crops right after detecting)

    def frame_scores(self, frames: np.ndarray):
        return self.short.frame_scores(frames)

    def windows(self, height: int, width: int) -> list:
        return self.choose(height, width).windows(height, width)


def passes(detector, photo: np.ndarray) -> int:
    """Windows the detector ran on its last `detect` of this photo."""
    return detector.passes if isinstance(detector, EarlyStop) else len(detector.windows(*photo.shape[:2]))


def validation_photos(folder: Path, label_x_shift: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB photo, (68, 2) landmarks) of a ytf68-layout folder's validation side."""
    return [
        (photo, landmarks)
        for name, person, photo, landmarks in read_ytf68_photos(folder, label_x_shift=label_x_shift)
        if in_validation(person, name, VAL_FRACTION)
    ]


def resized(photo: np.ndarray, landmarks: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=interpolation)
    return small, (landmarks + 0.5) * [small.shape[1] / photo.shape[1], small.shape[0] / photo.shape[0]] - 0.5


def placed(photo, landmarks, canvas_shape: tuple[int, int], scale: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """The photo resized by ``scale`` at a random place of a canvas of smooth noise (no faces in it)."""
    small, points = resized(photo, landmarks, scale)
    height, width = canvas_shape
    noise = rng.integers(40, 220, size=(max(2, height // 64), max(2, width // 64), 3), dtype=np.uint8)
    canvas = cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)
    y0 = int(rng.integers(0, height - small.shape[0] + 1))
    x0 = int(rng.integers(0, width - small.shape[1] + 1))
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas, points + [x0, y0]


def case_set(name: str, every: int) -> list[tuple[str, np.ndarray, np.ndarray | int]]:
    """(label, photo, landmarks of the one labelled face, or the expected number of faces) of a set."""
    rng = np.random.default_rng(0)
    if name == "examples":
        from fkp.images import load_photo

        return [(f, load_photo(ROOT / "examples" / f), count) for f, count in sorted(EXAMPLE_FACES.items())]
    if name == "ytf68":
        return [("", p, m) for p, m in validation_photos(DATA / "ytf68", -1.3)[:: 3 * every]]
    helen = validation_photos(DATA / "helen_afw68")
    if name == "helen":
        return [("", p, m) for p, m in helen[::every]]
    if name == "helen400":
        return [("", *resized(p, m, 400 / max(p.shape[:2]))) for p, m in helen[::every]]
    if name == "turned":
        cases = []
        for p, m in helen[:: 2 * every]:
            for angle in (45, -45):
                image, matrix = rotate_photo(p, angle)
                cases.append((f"{angle:+d}", image, apply_affine(matrix, m)))
        return cases
    if name == "close":  # close-ups: the face's crop 90% of the height of a 640x480 or 400x400 photo
        cases = []
        for index, (p, m) in enumerate(helen[::every]):
            centre, side = landmark_crop(m)
            height = side / 0.9
            width, out = (height * 4 / 3, (640, 480)) if index % 2 else (height, (400, 400))
            scale = out[1] / height
            matrix = np.array([[scale, 0, out[0] / 2 - centre[0] * scale], [0, scale, out[1] / 2 - centre[1] * scale]])
            image = cv2.warpAffine(p, matrix, out, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
            cases.append(("", image, apply_affine(matrix, m)))
        return cases
    if name == "small":
        return [
            ("", *placed(p, m, (480, 640), rng.uniform(64, 80) / landmark_crop(m)[1], rng))
            for p, m in helen[:: 4 * every]
        ]
    if name == "panorama":
        return [("", *placed(p, m, (300, 8000), 300 / p.shape[0], rng)) for p, m in helen[:: 8 * every]]
    if name == "mixed":  # a large face and a small one: what an early stop can miss
        cases = []
        for (p, m), (q, n) in zip(helen[:: 8 * every], helen[4 :: 8 * every]):
            canvas, big = placed(p, m, (720, 1280), 500 / max(p.shape[:2]), rng)
            small, points = resized(q, n, rng.uniform(64, 80) / landmark_crop(n)[1])
            x0 = 0 if big[:, 0].mean() > 640 else 1280 - small.shape[1]  # on the other side of the canvas
            y0 = int(rng.integers(0, 720 - small.shape[0] + 1))
            canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
            cases.append(("", canvas, [big, points + [x0, y0]]))
        return cases
    if name == "canvas":
        return [("", *placed(p, m, (12000, 12000), 600 / max(p.shape[:2]), rng)) for p, m in helen[::34][:4]]
    raise ValueError(f"unknown case set {name!r}; choose from {SETS}")


def run(predictor, schemes: dict, cases: list) -> dict:
    """Per scheme: found, missed, other faces, NME, passes and times over the cases, interleaved."""
    stats = {
        name: {"found": 0, "missed": 0, "other": 0, "pred": [], "true": [], "passes": [], "det": [], "pipe": []}
        for name in schemes
    }
    for _, photo, expected in cases:
        for name, detector in schemes.items():
            s = stats[name]
            start = time.perf_counter()
            detector.detect(photo)
            s["det"].append(time.perf_counter() - start)
            s["passes"].append(passes(detector, photo))
            start = time.perf_counter()
            faces = predict_photo(predictor, photo, detector)
            s["pipe"].append(time.perf_counter() - start)
            if isinstance(expected, int):  # an example photo: a count of faces
                s["found"] += min(len(faces), expected)
                s["missed"] += max(expected - len(faces), 0)
                s["other"] += max(len(faces) - expected, 0)
                continue
            boxes, matched = [face.box for face in faces], set()
            for landmarks in expected if isinstance(expected, list) else [expected]:
                index = match_face(boxes, landmarks)
                if index is None:
                    s["missed"] += 1
                    continue
                matched.add(index)
                s["found"] += 1
                s["pred"].append(faces[index].keypoints)
                s["true"].append(ibug68_to_kaggle(landmarks))
            s["other"] += len(faces) - len(matched)
    return stats


def shares(detectors: dict, cases, levels=(0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 0.7)) -> None:
    """Share of faces found in one window (the detector's own window size) per face share of the window."""
    print(f"\nfaces found in one window, by the face's crop side as a share of the window ({len(cases)} faces)")
    print(f"{'share':>6s} " + " ".join(f"{name:>15s}" for name in detectors))
    for share in levels:
        row = []
        for detector in detectors.values():
            size = detector.input_size
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
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated case sets among {SETS}")
    parser.add_argument("--schemes", default="blazeface,blazeface_full,blazeface+stop,blazeface_full+stop,cheaper")
    parser.add_argument("--every", type=int, default=1, help="use every N-th photo of each set")
    parser.add_argument("--shares", action="store_true", help="only the one-window share measurement (ytf68)")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    print("command: python benchmarks/blazeface_full.py " + " ".join(sys.argv[1:]))

    import torch

    from fkp import FaceKeypoints

    torch.set_num_threads(2)
    if args.shares:
        cases = validation_photos(DATA / "ytf68", -1.3)
        detectors = {name: create_detector(name) for name in ("blazeface", "blazeface_full")}
        shares(detectors, cases[:: max(1, len(cases) // 100)][:100])
        return
    schemes = {}
    for name in args.schemes.split(","):
        base = name.removesuffix("+stop")
        if name == "cheaper":
            schemes[name] = Cheaper(create_detector("blazeface"), create_detector("blazeface_full"))
        else:
            schemes[name] = create_detector(base) if base == name else EarlyStop(create_detector(base))
    predictor = FaceKeypoints(args.model)
    print(f"keypoint model {predictor.model.__class__.__name__} ({predictor.backend}), torch threads 2\n")
    print(
        f"{'set':10s} {'scheme':20s} {'photos':>6s} {'found':>6s} {'missed':>6s} {'other':>6s} {'NME':>7s} "
        f"{'passes':>7s} {'max':>4s} {'detect ms':>9s} {'pipeline ms':>11s}"
    )
    for set_name in args.sets.split(","):
        cases = case_set(set_name, args.every)
        for detector in schemes.values():  # warm-up
            predict_photo(predictor, cases[0][1], detector)
        for name, s in run(predictor, schemes, cases).items():
            nme = keypoint_metrics(np.array(s["pred"]), np.array(s["true"]))["nme"] if s["pred"] else float("nan")
            print(
                f"{set_name:10s} {name:20s} {len(cases):6d} {s['found']:6d} {s['missed']:6d} {s['other']:6d} "
                f"{nme:7.4f} {statistics.mean(s['passes']):7.2f} {max(s['passes']):4d} "
                f"{1000 * statistics.median(s['det']):9.1f} {1000 * statistics.median(s['pipe']):11.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
