"""Face detection behind a small interface, with a per-detector crop framing.

A detector returns boxes in photo pixels; its `framing` (calibrated on the ytf68 photos by
``python -m fkp.detect calibrate --data ../shared/data/ytf68``) turns each box into the square
crop that the landmark-derived Kaggle-like frame would have used, so the model sees faces framed
as in training.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from .data import Framing, landmark_crop


@dataclass(frozen=True)
class Box:
    """A face box in photo pixels: top-left (x, y), width, height."""

    x: float
    y: float
    width: float
    height: float

    @property
    def center(self) -> np.ndarray:
        return np.array([self.x + self.width / 2, self.y + self.height / 2])

    @property
    def side(self) -> float:
        return float(max(self.width, self.height))

    def contains(self, point) -> bool:
        return self.x <= point[0] <= self.x + self.width and self.y <= point[1] <= self.y + self.height


class FaceDetector(Protocol):
    framing: Framing

    def detect(self, photo: np.ndarray) -> list[Box]:
        """Faces in an (H, W, 3) RGB uint8 photo, largest first."""


# Fitted by `calibrate` on the 2,820 ytf68 photos (detector box -> landmark-derived crop).
HAAR_FRAMING = Framing(offset_x=0.0009, offset_y=0.0011, scale=1.0269)


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade "alt2" (ships inside opencv-python-headless<5; offline).

    Chosen by measurement on every 5th ytf68 photo: it missed 3.2% of faces with 0.016 false boxes
    per photo at 35 ms, against 2.7% / 0.059 / 41 ms for "default" and 3.0% / 0.012 / 42 ms for
    "alt" (fewer false faces matter more in a demo than 0.5% more misses).
    """

    def __init__(self, framing: Framing = HAAR_FRAMING, max_side: int = 1024, min_face: int = 24):
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml")
        if self.cascade.empty():
            raise RuntimeError("OpenCV's Haar cascade is missing: install opencv-python-headless<5")
        self.framing, self.max_side, self.min_face = framing, max_side, min_face

    def detect(self, photo: np.ndarray) -> list[Box]:
        gray = photo if photo.ndim == 2 else cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.max_side / max(gray.shape[:2]))  # detect on a reduced copy of huge photos
        if scale < 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = self.cascade.detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=4, minSize=(self.min_face, self.min_face))
        boxes = [Box(*(float(v) / scale for v in b)) for b in found]
        return sorted(boxes, key=lambda b: -b.width * b.height)


def fit_detector_framing(pairs: list[tuple[Box, np.ndarray]]) -> Framing:
    """Framing mapping detector boxes onto landmark crops: pairs of (box, (68, 2) landmarks)."""
    offsets, scales = [], []
    for box, landmarks in pairs:
        center, side = landmark_crop(landmarks)
        offsets.append((center - box.center) / box.side)
        scales.append(side / box.side)
    offset = np.median(offsets, axis=0)
    return Framing(offset_x=float(offset[0]), offset_y=float(offset[1]), scale=float(np.median(scales)))


def match_face(boxes: list[Box], landmarks: np.ndarray) -> int | None:
    """Index of the first box (largest first) that holds the labelled face, i.e. contains the
    centroid of its 15 keypoints; None when the detector missed it."""
    from .data import ibug68_to_kaggle

    centroid = ibug68_to_kaggle(landmarks).mean(axis=0)
    return next((i for i, box in enumerate(boxes) if box.contains(centroid)), None)


def main(argv: list[str] | None = None, prog: str = "python -m fkp.detect") -> None:
    from .data import LABEL_X_SHIFT_HELP, read_ytf68_photos

    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    calibrate = commands.add_parser("calibrate", help="fit the Haar detector's crop framing on a ytf68-layout folder")
    calibrate.add_argument("--data", required=True)
    calibrate.add_argument("--label-x-shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    args = parser.parse_args(argv)

    detector = HaarFaceDetector()
    pairs, photos = [], 0
    for _, _, photo, landmarks in read_ytf68_photos(args.data, label_x_shift=args.label_x_shift):
        photos += 1
        boxes = detector.detect(photo)
        index = match_face(boxes, landmarks)
        if index is not None:
            pairs.append((boxes[index], landmarks))
    framing = fit_detector_framing(pairs)
    centre_error, side_ratio = [], []
    for box, landmarks in pairs:
        center, side = landmark_crop(landmarks)
        predicted_center, predicted_side = framing.crop(box.center, box.side)
        centre_error.append(np.linalg.norm(predicted_center - center) / side)
        side_ratio.append(predicted_side / side)
    print(f"photos {photos}, faces found {len(pairs)} (missed {1 - len(pairs) / photos:.1%})")
    print(f"fitted: {framing}\nin use: {HAAR_FRAMING}")
    print(f"crop centre error: median {np.median(centre_error):.3f}, 90th percentile {np.percentile(centre_error, 90):.3f} (fraction of crop side)")
    print(f"crop size ratio: median {np.median(side_ratio):.3f}, 10th-90th percentile {np.percentile(side_ratio, 10):.3f}-{np.percentile(side_ratio, 90):.3f}")


if __name__ == "__main__":
    main()
