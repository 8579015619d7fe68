"""Whole-photo pipeline: load any common image, find faces, crop each into the model's 96x96 frame,
predict, and map keypoints back to original-photo pixels."""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
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
    """The input could not be read as an image; the message says which file and why, ``reason``
    only why (for a caller that names the file its own way)."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


def _reason(error: Exception) -> str:
    """Why an image could not be read, in plain words (never the library's text)."""
    import errno

    if isinstance(error, Image.DecompressionBombError):
        return f"it has more than {MAX_PIXELS:,} pixels"
    if isinstance(error, UnidentifiedImageError):
        return "its contents are not a known image format (JPEG, PNG, WebP, ...)"
    if isinstance(error, FileNotFoundError):
        return "there is no such file"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, IsADirectoryError):
        return "it is a folder"
    if isinstance(error, OSError) and error.errno == errno.ELOOP:
        return "it is a symbolic link loop"
    return "the file is damaged or cut short"


def refined_crop(keypoints: np.ndarray) -> np.ndarray:
    """The photo -> frame matrix that puts a face's (15, 2) photo keypoints where training frames
    have them on average (a rotation, scale and shift fitted to MEAN_FRAME_KEYPOINTS)."""
    return fit_similarity(keypoints, MEAN_FRAME_KEYPOINTS)


def load_photo(source: str | Path | bytes | Image.Image | np.ndarray, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Any common image -> (H, W, 3) uint8 RGB, upright, at full resolution.

    Handles JPEG/PNG/WebP/..., EXIF orientation, alpha (composited on white), palette, grayscale
    and 16-bit images. Raises NotAnImageError naming the file when it is not a readable image or
    has more than ``max_pixels`` pixels (read from the header: nothing is decoded then).
    """
    return load_photo_reduced(source, max_pixels=max_pixels)[0]


def load_photo_reduced(source: str | Path | bytes | Image.Image | np.ndarray, max_pixels: int = MAX_PIXELS,
                       decode_pixels: int | None = None) -> tuple[np.ndarray, tuple[float, float]]:
    """`load_photo` with decoding memory bounded by ``decode_pixels`` (None: no bound).

    A JPEG larger than the bound is reduced while decoding (its DCT scaling by 1/2, 1/4 or 1/8, so the
    full-size picture never exists in memory); any other format larger than the bound is refused from
    its header. Returns the (h, w, 3) uint8 photo and its (x, y) scale to the original photo: a point
    (x, y) of the returned photo is ((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5) in the original
    (pixel centres at integers); (1.0, 1.0) when not reduced. Peak memory is about 8 bytes per
    decoded pixel, whatever the bit depth.
    """
    if isinstance(source, np.ndarray):
        return _as_rgb(source), (1.0, 1.0)
    name = "upload" if isinstance(source, (bytes, Image.Image)) else Path(str(source)).name
    try:
        image = source if isinstance(source, Image.Image) else Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        width, height = image.size
        if width * height > max_pixels:  # the header alone says so: nothing is decoded
            reason = f"it has more than {max_pixels:,} pixels ({width}x{height}); make it smaller"
            raise NotAnImageError(f"{name} is not an image that can be read: {reason}", reason)
        if decode_pixels is not None and width * height > decode_pixels:
            if image.format != "JPEG":
                reason = (f"it is too large to read here: {width}x{height} is {width * height / 1e6:.0f} megapixels, and "
                          f"{image.format or 'these'} images are read up to {decode_pixels / 1e6:.0f} megapixels "
                          f"(JPEG photos up to {max_pixels / 1e6:.0f}). Save it as a JPEG, or make it smaller")
                raise NotAnImageError(f"{name} is not an image that can be read: {reason}", reason)
            factor = next((f for f in (2, 4, 8) if (width / f) * (height / f) <= decode_pixels), 8)
            image.draft("RGB", (-(-width // factor), -(-height // factor)))
        image.load()
        reduced = image.size
        scale = (width / reduced[0], height / reduced[1])
        image = ImageOps.exif_transpose(image)
    except NotAnImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # the reason in plain words, never the library's text (which holds server paths)
        raise NotAnImageError(f"{name} is not an image that can be read: {_reason(error)}", _reason(error)) from None
    if image.size != reduced:  # EXIF turned it by 90 degrees: the original's axes are swapped too
        scale = (scale[1], scale[0])
    return _as_rgb(_pixels(image)), scale


def _pixels(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image as an (H, W), (H, W, 3) or (H, W, 4) uint8 array, converted in slices
    of rows so that no full-size temporary wider than 8 bits per channel is made."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        rgba = np.asarray(image)
        del image
        rgb = np.empty(rgba.shape[:2] + (3,), np.uint8)
        for top in range(0, len(rgba), 512):  # composited on white, 512 rows at a time
            block = rgba[top:top + 512].astype(np.uint16)
            alpha = block[..., 3:]
            rgb[top:top + 512] = ((block[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
        return rgb
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.empty(values.shape, np.uint8)
        for start in range(0, len(values), 512):
            gray[start:start + 512] = np.clip(values[start:start + 512].astype(np.float32) * (255.0 / top), 0, 255)
        return gray
    if image.mode in ("L", "RGB"):
        return np.asarray(image)
    return np.asarray(image.convert("RGB"))


def _as_rgb(array: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 3) or (H, W, 4) array of any dtype -> (H, W, 3) uint8, contiguous."""
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2) if array.dtype == np.uint8 else np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 8:
        raise NotAnImageError(f"expected an image of at least 8x8 pixels, got an array of shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array.astype(np.float32) / (257.0 if array.max() > 255 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array[..., :3])


def to_original_pixels(points: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """(..., 2) points of a reduced photo (`load_photo_reduced`) in the original photo's pixels."""
    return ((np.asarray(points, dtype=np.float64) + 0.5) * np.asarray(scale) - 0.5).astype(np.float32)


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


def in_original_pixels(face: FaceResult, scale: tuple[float, float]) -> FaceResult:
    """A face found on a reduced photo (`load_photo_reduced`'s ``scale``), with its keypoints, box
    and crop matrix in the original photo's pixels; heatmaps, frame and confidences are unchanged."""
    if tuple(scale) == (1.0, 1.0):
        return face
    sx, sy = scale
    # original -> reduced pixels: p' = (p + 0.5) / s - 0.5
    to_reduced = np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]])
    matrix = np.asarray(face.matrix) @ to_reduced
    box = face.box
    if box is not None:
        corner = to_original_pixels([box.x, box.y], scale)
        landmarks = None if box.landmarks is None else to_original_pixels(box.landmarks, scale)
        box = replace(box, x=float(corner[0]), y=float(corner[1]), width=box.width * sx, height=box.height * sy, landmarks=landmarks)
    return replace(face, box=box, matrix=matrix, keypoints=to_original_pixels(face.keypoints, scale))


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
