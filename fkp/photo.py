"""Whole-photo pipeline: load any common image, find faces, crop each into the model's 96x96 frame,
predict, and map keypoints back to original-photo pixels."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .detect import BlazeFaceDetector, Box, FaceDetector
from .keypoints import KEYPOINT_NAMES
from .transforms import apply_affine, crop_matrix, fit_similarity, invert_affine, warp

MAX_PIXELS = 150_000_000  # a 12000x12000 photo is fine; anything larger is refused before decoding
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # (Pillow itself only refuses beyond twice this)


class NotAnImageError(ValueError):
    """The input could not be read as an image; the message says which file and why."""


def _reason(error: Exception) -> str:
    if isinstance(error, Image.DecompressionBombError):
        return f"it has more than {MAX_PIXELS:,} pixels"
    if isinstance(error, UnidentifiedImageError):
        return "its contents are not a known image format (JPEG, PNG, WebP, ...)"
    if isinstance(error, FileNotFoundError):
        return "there is no such file"
    return "the file is damaged or cut short"


def refined_crop(keypoints: np.ndarray) -> np.ndarray:
    """The photo -> frame matrix that puts a face's (15, 2) photo keypoints where training frames
    have them on average (a rotation, scale and shift fitted to MEAN_FRAME_KEYPOINTS)."""
    return fit_similarity(keypoints, MEAN_FRAME_KEYPOINTS)


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
            if image.width * image.height > MAX_PIXELS:  # the header alone says so: nothing is decoded
                raise Image.DecompressionBombError(f"{image.width}x{image.height}")
            image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            # the reason in plain words, never the library's text (which holds server paths)
            raise NotAnImageError(f"{Path(name).name} is not an image that can be read: {_reason(error)}") from None
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


# Mean (x, y) of each keypoint in the 96x96 training frames (the 3,101 frames of ytf68's training
# people, labels corrected), Kaggle's keypoint order: where a refined crop puts a face's keypoints.
MEAN_FRAME_KEYPOINTS = np.array([
    [64.95, 38.33], [30.57, 38.67], [58.17, 38.68], [71.40, 37.99], [37.23, 38.92], [24.17, 38.41], [57.50, 27.18], [78.51, 29.23],
    [37.57, 27.45], [16.30, 29.84], [48.62, 59.08], [62.25, 76.67], [34.33, 76.90], [48.65, 74.00], [48.76, 81.41],
])

# A face score under this says "this may not be a face". Measured by benchmarks/confidence.py on
# 345 validation face crops against 731 non-face crops (background crops of the same photos, the cat
# example, textures): the score's AUC is 1.000; 1% of faces score under 0.61, 1% of non-faces over 0.52.
FACE_SCORE_THRESHOLD = 0.55

_DEFAULT_DETECTOR: list = []


def default_detector() -> FaceDetector:
    """The shared default detector (BlazeFace), built on first use."""
    if not _DEFAULT_DETECTOR:
        _DEFAULT_DETECTOR.append(BlazeFaceDetector())
    return _DEFAULT_DETECTOR[0]


@dataclass
class FaceResult:
    """One face: detector box, crop matrix (photo -> 96x96 frame, rotated so the face is upright) and predictions.

    keypoints (15, 2) are in original-photo pixels, confidence (15,) in [0, 1], heatmaps
    (15, H, W) in the frame's heatmap grid, frame (96, 96) the grayscale crop the model saw.
    face_score in [0, 1] says how much the crop looks like a face (`face_scores`); under
    FACE_SCORE_THRESHOLD the keypoints are not to be trusted.
    """

    box: Box | None
    matrix: np.ndarray
    keypoints: np.ndarray
    confidence: np.ndarray
    heatmaps: np.ndarray
    frame: np.ndarray
    frame_keypoints: np.ndarray = field(repr=False)
    face_score: float = 1.0

    @property
    def looks_like_a_face(self) -> bool:
        return self.face_score >= FACE_SCORE_THRESHOLD

    def as_dict(self) -> dict:
        return {
            "box": None if self.box is None else {"x": self.box.x, "y": self.box.y, "width": self.box.width, "height": self.box.height,
                                                  "score": self.box.score, "roll_degrees": -self.box.angle},
            "face_score": round(float(self.face_score), 4),
            "keypoints": {name: {"x": float(x), "y": float(y), "confidence": float(c)} for name, (x, y), c in zip(KEYPOINT_NAMES, self.keypoints, self.confidence)},
        }


def predict_photo(predictor, photo: np.ndarray, detector: FaceDetector | None = None, whole_image: bool = False,
                  flip_test: bool | None = None, refine: bool = False, keep_doubtful: bool = False) -> list[FaceResult]:
    """Keypoints of every face in an RGB photo (largest face first).

    ``predictor`` is a `fkp.api.FaceKeypoints`. With ``whole_image`` the photo is treated as one
    face crop (centre square of its longer side), as for Kaggle-style crops; no detector is run.
    ``flip_test`` overrides the predictor's setting for this call. ``refine`` runs a second pass
    on a crop re-fitted to the first pass's keypoints (`refined_crop`). Detections whose face score
    is under FACE_SCORE_THRESHOLD are dropped unless ``keep_doubtful``.
    """
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    if whole_image:
        height, width = gray.shape
        crops = [(None, crop_matrix(((width - 1) / 2, (height - 1) / 2), max(height, width)))]
    else:
        detector = detector or default_detector()
        crops = [(box, detector.crop(box)) for box in detector.detect(photo)]
    results = predict_crops(predictor, gray, crops, detector if isinstance(detector, BlazeFaceDetector) else None, flip_test, refine)
    # a detection whose crop does not look like a face is a false detection (e.g. a patch of a flag):
    # dropped, unless the caller asked for the whole image as one face
    return results if whole_image or keep_doubtful else [face for face in results if face.looks_like_a_face]


def predict_crops(predictor, gray: np.ndarray, crops: list[tuple[Box | None, np.ndarray]], detector: BlazeFaceDetector | None = None,
                  flip_test: bool | None = None, refine: bool = False, pyramid: list | None = None, score: bool = True) -> list[FaceResult]:
    """Keypoints for given crops of a (H, W) uint8 grayscale photo: ``crops`` pairs a box (or None)
    with its 2x3 photo -> frame matrix. ``pyramid`` caches the photo's pyrDown levels (see `warp`).
    Every result gets a face score (`face_scores`; with ``score=False`` only the mean heatmap peak,
    which skips the detector's pass); none is dropped."""
    if not crops:
        return []
    pyramid = pyramid if pyramid is not None else [gray]
    frames = np.stack([warp(gray, matrix, pyramid=pyramid) for _, matrix in crops])
    keypoints, confidence, heatmaps = predictor.predict_frames(frames, flip_test=flip_test)
    if refine:
        crops = [(box, refined_crop(apply_affine(invert_affine(matrix), kp))) for (box, matrix), kp in zip(crops, keypoints)]
        frames = np.stack([warp(gray, matrix, pyramid=pyramid) for _, matrix in crops])
        keypoints, confidence, heatmaps = predictor.predict_frames(frames, flip_test=flip_test)
    scores = face_scores(frames, confidence, detector) if score else np.asarray(confidence).mean(axis=1)
    return [
        FaceResult(box, matrix, apply_affine(invert_affine(matrix), kp).astype(np.float32), conf, hm, frame, kp, float(score))
        for (box, matrix), kp, conf, hm, frame, score in zip(crops, keypoints, confidence, heatmaps, frames, scores)
    ]


def face_scores(frames: np.ndarray, confidence: np.ndarray, detector: BlazeFaceDetector | None = None) -> np.ndarray:
    """(N,) face scores of (N, 96, 96) frames with their (N, 15) keypoint confidences: the geometric
    mean of the mean heatmap peak (our model: are there 15 clear keypoints?) and BlazeFace's face
    probability on the frame (a face/non-face classifier). Either alone lets some non-faces through
    (the cat example's mean peak is 0.64, within the range of real faces)."""
    if len(frames) == 0:
        return np.zeros(0)
    blazeface = (detector or default_detector()).frame_scores(frames)
    return np.sqrt(np.asarray(confidence).mean(axis=1) * blazeface)
