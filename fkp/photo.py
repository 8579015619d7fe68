"""Whole-photo pipeline: load any common image, find faces, crop each into the model's 96x96 frame,
predict, and map keypoints back to original-photo pixels."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .detect import Box, FaceDetector, HaarFaceDetector
from .keypoints import KEYPOINT_NAMES
from .transforms import apply_affine, crop_matrix, invert_affine, warp

Image.MAX_IMAGE_PIXELS = 120_000_000  # large photos are fine; decompression bombs are not


class NotAnImageError(ValueError):
    """The input could not be read as an image; the message says which file and why."""


def load_photo(source: str | Path | bytes | Image.Image | np.ndarray) -> np.ndarray:
    """Any common image -> (H, W, 3) uint8 RGB, upright.

    Handles JPEG/PNG/WebP/..., EXIF orientation, alpha (composited on white), palette, grayscale
    and 16-bit images. Raises NotAnImageError naming the file when it is not a readable image.
    """
    if isinstance(source, np.ndarray):
        array = source
    else:
        name = "upload" if isinstance(source, (bytes, Image.Image)) else str(source)
        try:
            image = source if isinstance(source, Image.Image) else Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise NotAnImageError(f"{Path(name).name} is not an image that can be read ({error.__class__.__name__}: {error})") from None
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            array = np.asarray(image, dtype=np.float64)
            top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
            array = np.clip(array / top * 255.0, 0, 255).astype(np.uint8)
        elif image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            array = np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
        else:
            array = np.asarray(image.convert("RGB"))
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 8:
        raise NotAnImageError(f"expected an image of at least 8x8 pixels, got an array of shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array.astype(np.float64) / (257.0 if array.max() > 255 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array[..., :3])


@dataclass
class FaceResult:
    """One face: detector box, crop matrix (photo -> 96x96 frame) and predictions.

    keypoints (15, 2) are in original-photo pixels, confidence (15,) in [0, 1], heatmaps
    (15, H, W) in the frame's heatmap grid, frame (96, 96) the grayscale crop the model saw.
    """

    box: Box | None
    matrix: np.ndarray
    keypoints: np.ndarray
    confidence: np.ndarray
    heatmaps: np.ndarray
    frame: np.ndarray
    frame_keypoints: np.ndarray = field(repr=False)

    def as_dict(self) -> dict:
        return {
            "box": None if self.box is None else {"x": self.box.x, "y": self.box.y, "width": self.box.width, "height": self.box.height},
            "keypoints": {name: {"x": float(x), "y": float(y), "confidence": float(c)} for name, (x, y), c in zip(KEYPOINT_NAMES, self.keypoints, self.confidence)},
        }


def predict_photo(predictor, photo: np.ndarray, detector: FaceDetector | None = None, whole_image: bool = False, flip_test: bool | None = None) -> list[FaceResult]:
    """Keypoints of every face in an RGB photo (largest face first).

    ``predictor`` is a `fkp.api.FaceKeypoints`. With ``whole_image`` the photo is treated as one
    face crop (centre square of its longer side), as for Kaggle-style crops; no detector is run.
    ``flip_test`` overrides the predictor's setting for this call.
    """
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    if whole_image:
        height, width = gray.shape
        crops = [(None, crop_matrix(((width - 1) / 2, (height - 1) / 2), max(height, width)))]
    else:
        detector = detector or HaarFaceDetector()
        crops = [(box, crop_matrix(*detector.framing.crop(box.center, box.side))) for box in detector.detect(photo)]
    if not crops:
        return []
    frames = np.stack([warp(gray, matrix) for _, matrix in crops])
    keypoints, confidence, heatmaps = predictor.predict_frames(frames, flip_test=flip_test)
    return [
        FaceResult(box, matrix, apply_affine(invert_affine(matrix), kp).astype(np.float32), conf, hm, frame, kp)
        for (box, matrix), kp, conf, hm, frame in zip(crops, keypoints, confidence, heatmaps, frames)
    ]
