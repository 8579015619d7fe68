"""The public API: `FaceKeypoints`, MediaPipe-style stages (detect -> upright crop -> keypoints ->
back to photo pixels) behind one class.

    from fkp import FaceKeypoints
    fkp = FaceKeypoints()                       # the shipped "fast" model, or FKP_MODEL=name-folder-or-hub-id
    fkp = FaceKeypoints("accurate")             # the shipped accurate model (fkp.shipped): photos, ~5x the time
    faces = fkp.detect("photo.jpg")             # every face of a photo: keypoints in photo pixels
    keypoints, confidence, heatmaps = fkp.predict_frames(frames)   # (N, 96, 96) uint8 face frames
    faces = fkp.detect_for_video(frame, timestamp)                 # one video frame, tracked and smoothed
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .detect import DEFAULT_DETECTOR, FaceDetector
from .images import load_photo
from .model import StackedHourglass, load_model, predict_with
from .pipeline import FaceResult, default_detector, predict_photo
from .runtime import (
    BACKENDS,
    INT8_FILE,
    has_onnxruntime,
    int8_model_path,
    int8_runtime,
    onnx_runtime,
    optimized,
    single_thread_below,
)
from .shipped import DEFAULT_MODEL, SHIPPED_MODELS, default_model_source, model_source  # noqa: F401
from .tracking import LiveTracker


class FaceKeypoints:
    """The 15 Kaggle keypoints of every face: `detect` for a photo, `detect_for_video` for the frames
    of a video or a webcam, `predict_frames` for 96x96 face crops framed like Kaggle's.

    Args:
        model: a loaded model, a shipped model's name ("fast" or "accurate", `fkp.shipped`), a
            local folder or a Hub model id (default: `default_model_source()`).
        device: torch device.
        flip_test: average with the prediction on the mirrored frame (more accurate, 2x the work).
        backend: how the network runs (see benchmarks/speed.py for what each costs):
            "int8": the model folder's int8 copy (``model.int8.onnx``, written by `fkp quantize`) in
                ONNX Runtime, CPU only;
            "onnxruntime": the float graph in ONNX Runtime (pip install 'fkp[onnx]'), CPU only;
            "torchscript": a frozen TorchScript copy, BatchNorm folded into the convolutions;
            "eager": plain PyTorch;
            "auto" (default): on CPU with ONNX Runtime installed, int8 where the folder has a current
            int8 copy, else onnxruntime; elsewhere torchscript.
            A backend that cannot be built falls back to the next one (int8 -> onnxruntime) or to eager
            PyTorch, with a warning; ``self.backend`` says which one runs.
        detector: the face detector for `detect` and `detect_for_video`: a name in
            `fkp.detect.DETECTORS` ("blazeface_full", the default; "blazeface" or "haar") or a `FaceDetector`; built on
            first use.
    """

    def __init__(
        self,
        model: StackedHourglass | str | os.PathLike | None = None,
        device: str = "cpu",
        flip_test: bool = False,
        backend: str = "auto",
        detector: str | FaceDetector = DEFAULT_DETECTOR,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        folder = None
        self.source: str | None = None  # where the model came from (`fkp.shipped.model_source`); None if passed
        if not isinstance(model, StackedHourglass):
            self.source = model_source(model)
            folder = Path(self.source) if Path(self.source).is_dir() else None
            model = load_model(self.source, device)
        self.model = model.eval().to(device)
        self.device, self.flip_test = device, flip_test
        on_cpu_with_ort = str(device) == "cpu" and has_onnxruntime()
        if backend == "auto":
            backend = "onnxruntime" if on_cpu_with_ort else "torchscript"
            if on_cpu_with_ort and folder is not None and (folder / INT8_FILE).is_file():
                backend = "int8"
        self.backend = backend
        self.forward = None
        if backend == "int8":
            path = int8_model_path(folder) if folder is not None and on_cpu_with_ort else None
            self.forward = int8_runtime(str(path), single_thread_below(self.model)) if path is not None else None
            if self.forward is None:
                if folder is None or not on_cpu_with_ort:
                    warnings.warn(
                        "the int8 network needs a model folder and ONNX Runtime on the CPU; using the float one",
                        stacklevel=2,
                    )
                backend = self.backend = "onnxruntime" if on_cpu_with_ort else "torchscript"
        if self.forward is None:
            if backend == "onnxruntime":
                self.forward = onnx_runtime(self.model)
            elif backend == "torchscript":
                self.forward = optimized(self.model, device)
            else:
                self.forward = self.model
        if self.forward is self.model:
            self.backend = "eager"
        self._detector = detector
        self._tracker: LiveTracker | None = None

    @property
    def detector(self) -> FaceDetector:
        """The face detector (built on first use; the shared default one for a name)."""
        if isinstance(self._detector, str):
            self._detector = default_detector(self._detector)
        return self._detector

    def detect(
        self, image: str | Path | bytes | np.ndarray, whole_image: bool = False, flip_test: bool | None = None
    ) -> list[FaceResult]:
        """Every face of a photo (a path, bytes, a PIL image or an (H, W, 3) RGB uint8 array), largest
        first: keypoints (15, 2) in original-photo pixels, confidences, the face's box and face score
        (`fkp.pipeline.FaceResult`). `fkp.pipeline.reading_order(faces)` puts them in the order in which
        `fkp predict` and the demo number them (rows top to bottom, then left to right).
        Detections that do not look like a face are dropped. With
        ``whole_image`` the image is taken as one face crop (no detector). Raises
        `fkp.images.NotAnImageError` naming the file when it cannot be read."""
        return predict_photo(self, load_photo(image), self.detector, whole_image=whole_image, flip_test=flip_test)

    def detect_for_video(self, frame: np.ndarray, timestamp: float | None = None) -> list[FaceResult]:
        """The faces of one video frame ((H, W, 3) RGB uint8), tracked from the previous frames (the
        detector runs only now and then) and smoothed over time; ``timestamp`` in seconds (default: the
        time of the call). Call `reset_video` before another video."""
        if self._tracker is None:
            self._tracker = LiveTracker(self, self.detector)
        return self._tracker.update(load_photo(frame), timestamp)

    def reset_video(self) -> None:
        """Forget the faces tracked by `detect_for_video`."""
        self._tracker = None

    def predict_frames(
        self, frames: np.ndarray, batch_size: int = 64, flip_test: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predict on (N, 96, 96) uint8 grayscale frames (``flip_test`` overrides the instance's setting).

        Returns keypoints (N, 15, 2) in frame pixels, confidence (N, 15) in [0, 1] and heatmaps
        (N, 15, H, W) float32 (H = W = 96 / stride).
        """
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != (self.model.input_size, self.model.input_size):
            raise ValueError(
                f"expected (N, {self.model.input_size}, {self.model.input_size}) frames, got shape {frames.shape}"
            )
        outputs = [[], [], []]
        for start in range(0, len(frames), batch_size):
            batch = torch.from_numpy(frames[start : start + batch_size].astype(np.float32) / 255.0)[:, None].to(
                self.device
            )
            flip = self.flip_test if flip_test is None else flip_test
            predictions = predict_with(self.forward, batch, self.model.codec, flip, self.model.offsets(flip))
            for out, value in zip(outputs, predictions):
                out.append(value.float().cpu().numpy())
        if not outputs[0]:
            size = self.model.heatmap_size
            k = self.model.num_keypoints
            return (
                np.zeros((0, k, 2), np.float32),
                np.zeros((0, k), np.float32),
                np.zeros((0, k, size, size), np.float32),
            )
        return tuple(np.concatenate(out) for out in outputs)
