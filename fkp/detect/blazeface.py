"""MediaPipe's short-range BlazeFace (`blazeface_net`) as a detector: square windows at
several scales for any photo size; its eye, nose and mouth points place and turn the crop."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..framing import fit_keypoint_frame
from ..geometry import fit_similarity, upright_angle, warp
from ..runtime import has_onnxruntime, onnx_session
from .base import Box, FaceDetector
from .blazeface_net import INPUT_SIZE, decode, load_blazeface, sigmoid, weighted_nms

# Where BlazeFace's right eye, left eye, nose tip and mouth centre sit on average in the 96x96
# training frame; fitted by `fkp calibrate detector --detector blazeface` on the 3,446 ytf68 photos
# (labels corrected by -1.3 px). Its ear points are left out: they swing with head turn.
BLAZEFACE_KEYPOINT_FRAME = np.array([[31.00, 38.80], [65.87, 37.81], [48.98, 58.06], [49.37, 76.42]])


class BlazeFaceDetector(FaceDetector):
    """MediaPipe's short-range BlazeFace (`blazeface_net`), run on square windows at several scales.

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

    name = "blazeface"
    scores_are_probabilities = True  # Box.score: the network's face probability (sigmoid of its logit)
    CHUNK = 64  # windows per network call: bounds memory; as fast as one batch of 320
    KEYPOINT_FRAME = BLAZEFACE_KEYPOINT_FRAME
    # The network and how its outputs read (a subclass with another BlazeFace model replaces these).
    input_size = INPUT_SIZE
    load_net = staticmethod(load_blazeface)
    decode = staticmethod(decode)
    nms = staticmethod(weighted_nms)

    def __init__(
        self,
        keypoint_frame: np.ndarray | None = None,
        min_face: int = 64,
        max_windows: int = 320,
        threshold: float | None = None,
    ):
        self.net = self.load_net()
        self.forward = self._fastest_forward()
        self.keypoint_frame = self.KEYPOINT_FRAME if keypoint_frame is None else np.asarray(keypoint_frame)
        self.min_face, self.max_windows = min_face, max_windows
        self.threshold = self.THRESHOLD if threshold is None else threshold

    def _fastest_forward(self):
        """ONNX Runtime where installed, else channels-last eager PyTorch: for a batch of 64 windows,
        0.45 s and 0.50 s against 0.82 s for plain eager PyTorch (measured on a loaded 2-core CPU)."""
        if has_onnxruntime():
            example = torch.zeros(1, 3, self.input_size, self.input_size)
            session = onnx_session(self.net, example, ["scores", "regressors"])
            if session is not None:
                return session
        self.net = self.net.to(memory_format=torch.channels_last)
        return lambda images: self.net(images.contiguous(memory_format=torch.channels_last))

    def fit_crop(self, pairs: list[tuple[Box, np.ndarray]]) -> str:
        fitted = fit_keypoint_frame(pairs, len(self.keypoint_frame))
        report = (
            f"fitted keypoint frame: {np.array2string(fitted.round(2), separator=', ')}\n"
            f"in use: {np.array2string(self.keypoint_frame, separator=', ')}"
        )
        self.keypoint_frame = fitted
        return report

    def crop(self, box: Box) -> np.ndarray:
        """The rotation, scale and shift that put the face's eyes, nose tip and mouth centre where
        they sit on average in training frames: from 4 points, steadier than the box (measured:
        NME 0.044 against 0.066 for a box-based crop on the validation people)."""
        return fit_similarity(box.landmarks[: len(self.keypoint_frame)], self.keypoint_frame)

    def window_sides(self, height: int, width: int) -> list[float]:
        """The window sides (photo pixels) to run on a photo of that size, largest first."""
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
        return sorted(sides, reverse=True) or [float(longest)]

    def windows(self, height: int, width: int) -> list[tuple[float, float, float]]:
        """Square windows (x0, y0, side) in photo pixels: each of `window_sides` tiled over the photo
        with 50% overlap (centred where the photo is smaller), largest first, within the budget."""

        def starts(length: int, side: float) -> np.ndarray:
            if side >= length:
                return np.array([(length - side) / 2])
            count = int(np.ceil((length - side) / (side / 2))) + 1
            return np.linspace(0, length - side, count)

        chosen: list[tuple[float, float, float]] = []
        for side in self.window_sides(height, width):
            level = [(x0, y0, side) for y0 in starts(height, side) for x0 in starts(width, side)]
            if chosen and len(chosen) + len(level) > self.max_windows:
                break
            chosen += level
        return chosen

    def _network(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score logits (N, A) and regressors (N, A, 16) of (N, S, S, 3) uint8 RGB windows, in chunks of
        ``CHUNK`` (the network's activations for all 320 windows at once took ~550 MB). The scaling
        to [-1, 1] is done in NumPy: torch's threaded element-wise operations cost milliseconds per
        call on a busy CPU."""
        scores, regressors = [], []
        for start in range(0, len(windows), self.CHUNK):
            images = windows[start : start + self.CHUNK].transpose(0, 3, 1, 2).astype(np.float32)
            images *= 1 / 127.5
            images -= 1.0
            with torch.inference_mode():
                outputs = self.forward(torch.from_numpy(images))
            scores.append(np.asarray(outputs[0], dtype=np.float32))
            regressors.append(np.asarray(outputs[1], dtype=np.float32))
        return np.concatenate(scores), np.concatenate(regressors)

    def frame_scores(self, frames: np.ndarray) -> np.ndarray:
        """BlazeFace's best face probability on each (N, 96, 96) uint8 grayscale face frame: how much a
        crop looks like a face to a network trained for exactly that (one window per frame)."""
        size = self.input_size
        resized = np.stack([cv2.resize(frame, (size, size), interpolation=cv2.INTER_LINEAR) for frame in frames])
        scores, _ = self._network(np.repeat(resized[..., None], 3, axis=-1))
        return sigmoid(scores.max(axis=1))

    def detect(self, photo: np.ndarray) -> list[Box]:
        rgb = photo if photo.ndim == 3 else cv2.cvtColor(photo, cv2.COLOR_GRAY2RGB)
        height, width = rgb.shape[:2]
        return self.boxes(self.detections(rgb, self.windows(height, width)), height, width)

    def detections(self, rgb: np.ndarray, windows: list, pyramid: list | None = None) -> np.ndarray:
        """(M, 17) detections of an (H, W, 3) uint8 RGB photo in the given windows (x0, y0, side), before
        suppression: probability, box (x_min, y_min, x_max, y_max) and 6 keypoints (x, y) in photo
        pixels. ``pyramid`` caches the photo's reductions across calls (see `fkp.geometry.warp`)."""
        pyramid = pyramid if pyramid is not None else [rgb]  # each photo is reduced once per octave
        if not windows:
            return np.zeros((0, 17), np.float32)
        batch = np.stack([self._window(pyramid, x0, y0, side) for x0, y0, side in windows])
        found = [np.zeros((0, 17), np.float32)]
        for (x0, y0, side), rows in zip(windows, self.decode(*self._network(batch), self.threshold)):
            if len(rows):  # box (4) + 6 keypoints, [0, 1] -> photo pixels
                found.append(np.concatenate([rows[:, :1], rows[:, 1:] * side + np.tile([x0, y0], 8)], axis=1))
        return np.concatenate(found)

    def boxes(self, detections: np.ndarray, height: int, width: int) -> list[Box]:
        """The faces of (M, 17) `detections` on an (height, width) photo after weighted suppression,
        largest first; a face centred outside the photo (in a window's letterbox) is dropped."""
        if not len(detections):
            return []
        boxes = []
        for row in self.nms(detections):
            x_min, y_min, x_max, y_max = row[1:5]
            if not (0 <= (x_min + x_max) / 2 < width and 0 <= (y_min + y_max) / 2 < height):
                continue  # a "face" in the letterbox padding
            landmarks = row[5:].reshape(6, 2)
            boxes.append(
                Box(
                    float(x_min),
                    float(y_min),
                    float(x_max - x_min),
                    float(y_max - y_min),
                    score=float(row[0]),
                    angle=upright_angle(landmarks[0], landmarks[1]),
                    landmarks=landmarks,
                )
            )
        return sorted(boxes, key=lambda b: -b.width * b.height)

    def _window(self, pyramid: list, x0: float, y0: float, side: float) -> np.ndarray:
        """An (input_size, input_size, 3) uint8 window of pyramid[0] (black outside the photo), anti-aliased."""
        scale = self.input_size / side
        matrix = np.array([[scale, 0.0, -x0 * scale + (scale - 1) / 2], [0.0, scale, -y0 * scale + (scale - 1) / 2]])
        return warp(pyramid[0], matrix, self.input_size, border=cv2.BORDER_CONSTANT, pyramid=pyramid)
