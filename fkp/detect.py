"""Face detection behind a small interface: a detector finds faces (`detect`) and turns each into
the square photo -> 96x96 frame crop that the training frames used, upright (`crop`), so the model
sees faces framed as in training. Each detector's crop is calibrated on the ytf68 photos by
``fkp calibrate detector --detector NAME --data ../shared/data/ytf68 --label-x-shift -1.3``.

Detectors: `BlazeFaceDetector` (the default: MediaPipe's BlazeFace in PyTorch, finds faces turned
in-plane, its eye, nose and mouth keypoints place and turn the crop, multi-scale windows for any
photo size) and `HaarFaceDetector` (OpenCV's frontal Haar cascade: upright faces only, a crop
from its box).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import torch

from .data import Framing, landmark_crop
from .keypoints import FRAME_SIZE
from .transforms import (
    apply_affine,
    crop_matrix,
    fit_similarity,
    invert_affine,
    rotate,
    upright_angle,
    warp,
)


@dataclass(frozen=True, eq=False)
class Box:
    """A face box in photo pixels: top-left (x, y), width, height; the detector's score, the
    `crop_matrix` angle (degrees) that turns the face upright, and the detector's own keypoints
    ((6, 2) photo pixels for BlazeFace: `fkp.blazeface.KEYPOINTS`), where it has them."""

    x: float
    y: float
    width: float
    height: float
    score: float = 1.0
    angle: float = 0.0
    landmarks: np.ndarray | None = None

    @property
    def center(self) -> np.ndarray:
        return np.array([self.x + self.width / 2, self.y + self.height / 2])

    @property
    def side(self) -> float:
        return float(max(self.width, self.height))

    def contains(self, point) -> bool:
        return self.x <= point[0] <= self.x + self.width and self.y <= point[1] <= self.y + self.height


class FaceDetector(Protocol):
    def detect(self, photo: np.ndarray) -> list[Box]:
        """Faces in an (H, W, 3) RGB uint8 photo, largest first."""

    def crop(self, box: Box) -> np.ndarray:
        """The 2x3 photo -> 96x96 frame matrix of a detected face, framed as in training, upright."""


def box_crop(framing: Framing, box: Box) -> np.ndarray:
    """A crop from a detector box: the framing around the box, rotated by the box's angle."""
    return crop_matrix(*framing.crop(box.center, box.side, box.angle), angle_deg=box.angle)


# Fitted by `calibrate` on the 2,820 ytf68 photos (detector box -> landmark-derived crop).
HAAR_FRAMING = Framing(offset_x=-0.0150, offset_y=0.0007, scale=1.0268)


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

    def crop(self, box: Box) -> np.ndarray:
        return box_crop(self.framing, box)

    def detect(self, photo: np.ndarray) -> list[Box]:
        gray = photo if photo.ndim == 2 else cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.max_side / max(gray.shape[:2]))  # detect on a reduced copy of huge photos
        if scale < 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = self.cascade.detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=4, minSize=(self.min_face, self.min_face))
        boxes = [Box(*(float(v) / scale for v in b)) for b in found]
        return sorted(boxes, key=lambda b: -b.width * b.height)


def fit_detector_framing(pairs: list[tuple[Box, np.ndarray]]) -> Framing:
    """Framing mapping detector boxes onto landmark crops: pairs of (box, (68, 2) landmarks). The
    offsets are measured in each face's upright axes (the box's angle), as `Framing.crop` applies them."""
    offsets, scales = [], []
    for box, landmarks in pairs:
        center, side = landmark_crop(landmarks)
        offsets.append(rotate((center - box.center) / box.side, box.angle))
        scales.append(side / box.side)
    offset = np.median(offsets, axis=0)
    return Framing(offset_x=float(offset[0]), offset_y=float(offset[1]), scale=float(np.median(scales)))


def fit_keypoint_frame(pairs: list[tuple[Box, np.ndarray]], count: int = 4) -> np.ndarray:
    """Mean (count, 2) position of a detector's first ``count`` keypoints in the landmark-derived
    training frame of each face: pairs of (box with landmarks, (68, 2) landmarks)."""
    return np.mean([apply_affine(crop_matrix(*landmark_crop(l)), box.landmarks[:count]) for box, l in pairs], axis=0)


# Where BlazeFace's right eye, left eye, nose tip and mouth centre sit on average in the 96x96
# training frame; fitted by `fkp calibrate detector --detector blazeface` on the 3,446 ytf68 photos
# (labels corrected by -1.3 px). Its ear points are left out: they swing with head turn.
BLAZEFACE_KEYPOINT_FRAME = np.array([[31.00, 38.80], [65.87, 37.81], [48.98, 58.06], [49.37, 76.42]])


class BlazeFaceDetector:
    """MediaPipe's short-range BlazeFace (`fkp.blazeface`), run on square windows at several scales.

    Measured in benchmarks/robustness.py: it finds faces turned in-plane by up to about ±45°. Its
    eye, nose and mouth keypoints place the crop, turned so that the face is upright (`crop`). It
    does not find full profiles.

    Windows: the whole photo (letterboxed), then windows of half the size with 50% overlap, and so
    on down to windows where a ``min_face``-pixel face (its crop side) still fills ``FACE_SHARE`` of
    the window; photos much wider or taller than square also get windows of their short side. At
    most ``max_windows`` windows are run (one batch, ~60 MB); on very large photos the smallest
    scales are dropped first, so the smallest face found grows instead of time and memory.
    """

    # Share of a window that a face (its Kaggle-like crop side) must cover to be found: measured on
    # 100 validation faces, 63% are found at 12%, 97% at 15%, all at 20%.
    FACE_SHARE = 0.2

    # Detection threshold: MediaPipe uses 0.5, where the example photos get two false faces (a
    # flag, the cat) at 0.56-0.57. At 0.65 no validation face is lost upright or turned ±30°, and 1 of
    # 175 turned ±45° (real faces there score 0.92-0.97).
    THRESHOLD = 0.65

    CHUNK = 64  # windows per network call: bounds memory; as fast as one batch of 320

    def __init__(self, keypoint_frame: np.ndarray | None = None, min_face: int = 64, max_windows: int = 320, threshold: float = THRESHOLD):
        from .blazeface import load_blazeface

        self.net = load_blazeface()
        self.forward = self._fastest_forward()
        self.keypoint_frame = BLAZEFACE_KEYPOINT_FRAME if keypoint_frame is None else np.asarray(keypoint_frame)
        self.min_face, self.max_windows, self.threshold = min_face, max_windows, threshold

    def _fastest_forward(self):
        """ONNX Runtime where installed, else channels-last eager PyTorch: for a batch of 64 windows,
        0.45 s and 0.50 s against 0.82 s for plain eager PyTorch (measured on a loaded 2-core CPU)."""
        from .api import has_onnxruntime, onnx_session
        from .blazeface import INPUT_SIZE

        if has_onnxruntime():
            session = onnx_session(self.net, torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE), ["scores", "regressors"])
            if session is not None:
                return session
        self.net = self.net.to(memory_format=torch.channels_last)
        return lambda images: self.net(images.contiguous(memory_format=torch.channels_last))

    def crop(self, box: Box) -> np.ndarray:
        """The rotation, scale and shift that put the face's eyes, nose tip and mouth centre where
        they sit on average in training frames: from 4 points, steadier than the box (measured:
        NME 0.044 against 0.066 for a box-based crop on the validation people)."""
        return fit_similarity(box.landmarks[: len(self.keypoint_frame)], self.keypoint_frame)

    def windows(self, height: int, width: int) -> list[tuple[float, float, float]]:
        """Square windows (x0, y0, side) in photo pixels, largest first, within the budget."""
        longest, shortest = max(height, width), min(height, width)
        smallest = self.min_face / self.FACE_SHARE  # the largest window that still finds a min_face face
        sides = []
        side = float(longest)
        while True:
            if side <= shortest / self.FACE_SHARE:  # larger windows only see faces larger than the photo's short side
                sides.append(side)
            if side <= smallest:
                break
            side /= 2
        if longest / shortest > 1.4 and shortest >= smallest / 2:  # panoramas: windows of the short side
            sides = [s for s in sides if abs(np.log(s / shortest)) >= np.log(1.4)] + [float(shortest)]
        sides = sorted(sides, reverse=True) or [float(longest)]

        def starts(length: int, side: float) -> np.ndarray:
            if side >= length:
                return np.array([(length - side) / 2])
            count = int(np.ceil((length - side) / (side / 2))) + 1
            return np.linspace(0, length - side, count)

        chosen: list[tuple[float, float, float]] = []
        for side in sides:
            level = [(x0, y0, side) for y0 in starts(height, side) for x0 in starts(width, side)]
            if chosen and len(chosen) + len(level) > self.max_windows:
                break
            chosen += level
        return chosen

    @torch.inference_mode()
    def frame_scores(self, frames: np.ndarray) -> np.ndarray:
        """BlazeFace's best face probability on each (N, 96, 96) uint8 grayscale face frame: how much a
        crop looks like a face to a network trained for exactly that (one window per frame)."""
        from .blazeface import INPUT_SIZE

        resized = np.stack([cv2.resize(frame, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR) for frame in frames])
        images = torch.from_numpy(resized)[:, None].expand(-1, 3, -1, -1).float() / 127.5 - 1.0
        scores, _ = self.forward(images.contiguous())
        return torch.sigmoid(scores.float()).amax(dim=1).numpy()

    @torch.inference_mode()
    def detect(self, photo: np.ndarray) -> list[Box]:
        from .blazeface import decode, weighted_nms

        rgb = photo if photo.ndim == 3 else cv2.cvtColor(photo, cv2.COLOR_GRAY2RGB)
        height, width = rgb.shape[:2]
        windows = self.windows(height, width)
        pyramid = [rgb]  # shared by all windows: each photo is reduced once per octave
        batch = np.stack([self._window(pyramid, x0, y0, side) for x0, y0, side in windows])
        del pyramid
        # in chunks: the network's activations for all 320 windows at once took ~550 MB
        outputs = [self.forward(torch.from_numpy(batch[start:start + self.CHUNK]).permute(0, 3, 1, 2).float() / 127.5 - 1.0)
                   for start in range(0, len(batch), self.CHUNK)]
        scores, regressors = (torch.cat([output[i] for output in outputs]) for i in (0, 1))
        found = []
        for (x0, y0, side), detections in zip(windows, decode(scores, regressors, self.threshold)):
            if len(detections):
                scale = np.tile([side, side], 8)  # box (4) + 6 keypoints, [0, 1] -> photo pixels
                origin = np.tile([x0, y0], 8)
                found.append(np.concatenate([detections[:, :1], detections[:, 1:] * scale + origin], axis=1))
        if not found:
            return []
        boxes = []
        for row in weighted_nms(np.concatenate(found)):
            x_min, y_min, x_max, y_max = row[1:5]
            centre = ((x_min + x_max) / 2, (y_min + y_max) / 2)
            if not (0 <= centre[0] < width and 0 <= centre[1] < height):
                continue  # a "face" in the letterbox padding
            landmarks = row[5:].reshape(6, 2)
            boxes.append(Box(float(x_min), float(y_min), float(x_max - x_min), float(y_max - y_min), score=float(row[0]),
                             angle=upright_angle(landmarks[0], landmarks[1]), landmarks=landmarks))
        return sorted(boxes, key=lambda b: -b.width * b.height)

    @staticmethod
    def _window(pyramid: list, x0: float, y0: float, side: float) -> np.ndarray:
        """A (128, 128, 3) uint8 window of the photo pyramid[0] (black outside the photo), anti-aliased."""
        from .blazeface import INPUT_SIZE

        scale = INPUT_SIZE / side
        matrix = np.array([[scale, 0.0, -x0 * scale + (scale - 1) / 2], [0.0, scale, -y0 * scale + (scale - 1) / 2]])
        return warp(pyramid[0], matrix, INPUT_SIZE, border=cv2.BORDER_CONSTANT, pyramid=pyramid)


def match_face(boxes: list[Box], landmarks: np.ndarray) -> int | None:
    """Index of the first box (largest first) that holds the labelled face, i.e. contains the
    centroid of its 15 keypoints; None when the detector missed it."""
    from .data import ibug68_to_kaggle

    centroid = ibug68_to_kaggle(landmarks).mean(axis=0)
    return next((i for i, box in enumerate(boxes) if box.contains(centroid)), None)


DETECTORS = {"blazeface": BlazeFaceDetector, "haar": HaarFaceDetector}


def main(argv: list[str] | None = None, prog: str = "python -m fkp.detect") -> None:
    from .data import LABEL_X_SHIFT_HELP, read_ytf68_photos

    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    calibrate = commands.add_parser("calibrate", help="fit a detector's crop framing on a ytf68-layout folder")
    calibrate.add_argument("--data", required=True)
    calibrate.add_argument("--detector", choices=sorted(DETECTORS), default="blazeface")
    calibrate.add_argument("--label-x-shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    args = parser.parse_args(argv)

    detector = DETECTORS[args.detector]()
    pairs, photos = [], 0
    for _, _, photo, landmarks in read_ytf68_photos(args.data, label_x_shift=args.label_x_shift):
        photos += 1
        boxes = detector.detect(photo)
        index = match_face(boxes, landmarks)
        if index is not None:
            pairs.append((boxes[index], landmarks))
    print(f"photos {photos}, faces found {len(pairs)} (missed {1 - len(pairs) / photos:.1%})")
    if hasattr(detector, "keypoint_frame"):
        fitted = fit_keypoint_frame(pairs, len(detector.keypoint_frame))
        print(f"fitted keypoint frame: {np.array2string(fitted.round(2), separator=', ')}\nin use: {np.array2string(detector.keypoint_frame, separator=', ')}")
        detector.keypoint_frame = fitted
    else:
        detector.framing = fit_detector_framing(pairs)
        print(f"fitted: {detector.framing}\nin use: {DETECTORS[args.detector]().framing}")
    centre_error, side_ratio = [], []
    for box, landmarks in pairs:  # the fitted crop against the landmark crop, both as photo -> frame matrices
        center, side = landmark_crop(landmarks)
        inverse = invert_affine(detector.crop(box))
        predicted_center = apply_affine(inverse, np.array([(FRAME_SIZE - 1) / 2] * 2))
        centre_error.append(np.linalg.norm(predicted_center - center) / side)
        side_ratio.append(np.sqrt(abs(np.linalg.det(inverse[:, :2]))) * FRAME_SIZE / side)
    print(f"crop centre error: median {np.median(centre_error):.3f}, 90th percentile {np.percentile(centre_error, 90):.3f} (fraction of crop side)")
    print(f"crop size ratio: median {np.median(side_ratio):.3f}, 10th-90th percentile {np.percentile(side_ratio, 10):.3f}-{np.percentile(side_ratio, 90):.3f}")


if __name__ == "__main__":
    main()
