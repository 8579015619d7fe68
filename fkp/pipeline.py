"""The faces of a photo, in MediaPipe's stages: detect (`fkp.detect`) -> upright crop into the
96x96 frame (`fkp.framing`) -> keypoints (a `fkp.FaceKeypoints`) -> back to original-photo pixels.
Each face also gets a face score: does the crop look like a face at all. `reading_order` is how
`fkp predict` and the demo number the faces."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache

import cv2
import numpy as np

from .detect import DEFAULT_DETECTOR, Box, FaceDetector, create_detector
from .framing import refined_crop
from .geometry import apply_affine, crop_matrix, invert_affine, warp
from .images import to_original_pixels
from .keypoints import FRAME_SIZE, KEYPOINT_NAMES

# A face score under this says "this may not be a face"; detections under it are dropped. Measured by
# benchmarks/confidence.py --detections (the mean peak depends on the keypoint weights: re-measure for
# new ones). With fkp 0.7.1's weights: of 553 validation faces the default detector finds (helen_afw68
# as stored, turned ±45 degrees, close-ups and 64-80-px faces; ytf68), one scores under 0.70 (0.682; none
# under 0.65), while 95 of its 116 detections on 4,694 photos without a labelled face (helen_afw68 and
# ytf68 with that face painted over, the cat, textures) do; many of the 21 left are other people's
# faces, seen in part. (fkp 0.6.1's weights: one face under 0.70, 34 non-faces kept; fkp 0.5's: one face
# under 0.65, 27 non-faces kept, its peaks lower, so the same cut sat lower.)
# On crops that no detector found (the crop classifier's score; benchmarks/confidence.py), fkp 0.5's
# weights flagged 1.4% of 345 ytf68 validation face crops and none of 731 non-face crops (the cat included).
FACE_SCORE_THRESHOLD = 0.70
# The detector whose face classifier (`FaceDetector.frame_scores`: one pass on the 96x96 crop) scores a
# crop that no detection with a probability produced (`face_scores`): the short-range BlazeFace, made
# for faces that fill its window, as a crop's face does.
CROP_CLASSIFIER = "blazeface"
# What a face's JSON record (`FaceResult.as_dict`) keeps: photo pixels to 0.01 px, scores to 0.0001.
PIXEL_DECIMALS, SCORE_DECIMALS = 2, 4


def default_detector(name: str | None = None) -> FaceDetector:
    """The shared detector of that name (`fkp.detect.DETECTORS`; default DEFAULT_DETECTOR), built on
    first use."""
    return _shared_detector(name or DEFAULT_DETECTOR)


@cache
def _shared_detector(name: str) -> FaceDetector:
    return create_detector(name)


@dataclass
class FaceResult:
    """One face: detector box, crop matrix (photo -> 96x96 frame, rotated so the face is upright) and predictions.

    keypoints (15, 2) are in original-photo pixels, confidence (15,) in [0, 1], heatmaps
    (15, H, W) in the frame's heatmap grid, frame (96, 96) the grayscale crop the model saw.
    face_score in [0, 1] says how much the crop looks like a face (`face_scores`); under
    FACE_SCORE_THRESHOLD the keypoints are not to be trusted.
    """

    box: Box | None
    matrix: np.ndarray = field(repr=False)
    keypoints: np.ndarray
    confidence: np.ndarray
    heatmaps: np.ndarray = field(repr=False)
    frame: np.ndarray = field(repr=False)
    frame_keypoints: np.ndarray = field(repr=False)
    face_score: float = 1.0
    track: int | None = None  # the face's id across a video's frames (`fkp.tracking.LiveTracker`), else None

    @property
    def size(self) -> float:
        """The face's size in photo pixels: the side of its 96x96 crop mapped back to the photo."""
        return FRAME_SIZE / float(np.sqrt(abs(np.linalg.det(np.asarray(self.matrix)[:, :2]))))

    @property
    def looks_like_a_face(self) -> bool:
        return self.face_score >= FACE_SCORE_THRESHOLD

    def as_dict(self) -> dict:
        """The face as JSON-ready data: box, face score and keypoints, rounded (PIXEL_DECIMALS, SCORE_DECIMALS)."""

        def px(value: float) -> float:
            return round(float(value), PIXEL_DECIMALS)

        def score(value: float) -> float:
            return round(float(value), SCORE_DECIMALS)

        box = self.box
        return {
            "box": None
            if box is None
            else {
                "x": px(box.x),
                "y": px(box.y),
                "width": px(box.width),
                "height": px(box.height),
                "score": score(box.score),
                "roll_degrees": px(-box.angle) + 0.0,  # (+ 0.0: no -0.0)
            },
            "face_score": score(self.face_score),
            "keypoints": {
                name: {"x": px(x), "y": px(y), "confidence": score(c)}
                for name, (x, y), c in zip(KEYPOINT_NAMES, self.keypoints, self.confidence)
            },
        }


def reading_order(faces: list[FaceResult]) -> list[FaceResult]:
    """Faces numbered as one reads a photo: by rows, top to bottom (a face whose box overlaps the height
    of a row's first face joins that row), then left to right, so that "face 3" is easy to find. The
    numbering of `fkp predict` and of the demo; faces without a box (whole-image crops) keep their order."""
    if len(faces) < 2 or any(face.box is None for face in faces):
        return list(faces)
    rows: list[list[FaceResult]] = []
    for face in sorted(faces, key=lambda face: face.box.center[1]):
        first = rows[-1][0].box if rows else None
        if first is not None and face.box.y < first.y + first.height:  # overlaps the row's first face vertically
            rows[-1].append(face)
        else:
            rows.append([face])
    return [face for row in rows for face in sorted(row, key=lambda face: face.box.center[0])]


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
        box = replace(
            box,
            x=float(corner[0]),
            y=float(corner[1]),
            width=box.width * sx,
            height=box.height * sy,
            landmarks=landmarks,
        )
    return replace(face, box=box, matrix=matrix, keypoints=to_original_pixels(face.keypoints, scale))


def predict_photo(
    predictor,
    photo: np.ndarray,
    detector: FaceDetector | None = None,
    whole_image: bool = False,
    flip_test: bool | None = None,
    refine: bool = False,
    keep_doubtful: bool = False,
) -> list[FaceResult]:
    """Keypoints of every face in an RGB photo, largest face first (`reading_order` numbers them as
    `fkp predict` and the demo do).

    ``predictor`` is a `fkp.FaceKeypoints` (anything with its ``predict_frames``). With ``whole_image``
    the photo is treated as one face crop (centre square of its longer side), as for Kaggle-style
    crops; no detector is run.
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
    results = predict_crops(predictor, gray, crops, detector, flip_test, refine)
    # a detection whose crop does not look like a face is a false detection (e.g. a patch of a flag):
    # dropped, unless the caller asked for the whole image as one face
    return results if whole_image or keep_doubtful else [face for face in results if face.looks_like_a_face]


def predict_crops(
    predictor,
    gray: np.ndarray,
    crops: list[tuple[Box | None, np.ndarray]],
    detector: FaceDetector | None = None,
    flip_test: bool | None = None,
    refine: bool = False,
    pyramid: list | None = None,
    score: bool = True,
) -> list[FaceResult]:
    """Keypoints for given crops of a (H, W) uint8 grayscale photo: ``crops`` pairs a box (or None)
    with its 2x3 photo -> frame matrix. ``pyramid`` caches the photo's pyrDown levels (see `warp`).
    Every result gets a face score (`face_scores`: with each box's detection probability where
    ``detector`` gives one, else a face classifier's look at the crop; with ``score=False`` only the
    mean heatmap peak); none is dropped."""
    if not crops:
        return []
    pyramid = pyramid if pyramid is not None else [gray]
    frames = np.stack([warp(gray, matrix, pyramid=pyramid) for _, matrix in crops])
    keypoints, confidence, heatmaps = predictor.predict_frames(frames, flip_test=flip_test)
    if refine:
        crops = [
            (box, refined_crop(apply_affine(invert_affine(matrix), kp))) for (box, matrix), kp in zip(crops, keypoints)
        ]
        frames = np.stack([warp(gray, matrix, pyramid=pyramid) for _, matrix in crops])
        keypoints, confidence, heatmaps = predictor.predict_frames(frames, flip_test=flip_test)
    scores = (
        face_scores(frames, confidence, detector, [box for box, _ in crops])
        if score
        else np.asarray(confidence).mean(axis=1)
    )
    return [
        FaceResult(
            box, matrix, apply_affine(invert_affine(matrix), kp).astype(np.float32), conf, hm, frame, kp, float(score)
        )
        for (box, matrix), kp, conf, hm, frame, score in zip(crops, keypoints, confidence, heatmaps, frames, scores)
    ]


def face_scores(
    frames: np.ndarray,
    confidence: np.ndarray,
    detector: FaceDetector | None = None,
    boxes: list[Box | None] | None = None,
) -> np.ndarray:
    """(N,) face scores of (N, 96, 96) frames with their (N, 15) keypoint confidences: the geometric
    mean of the mean heatmap peak (our model: are there 15 clear keypoints?) and a face probability
    (a face/non-face classifier). Either alone lets some non-faces through (the cat example's mean
    peak is 0.64, within the range of real faces).

    The face probability is the detector's own, carried by its box (``boxes``, where ``detector``'s
    `FaceDetector.scores_are_probabilities`): no second pass. A crop that no such detection
    produced (box None: ``--whole-image``, Kaggle-style crops; or a detector without probabilities,
    Haar) is looked at once by a face classifier: ``detector``'s `FaceDetector.frame_scores`, else
    CROP_CLASSIFIER's. A tracked crop carries its track's last detection, so its probability is that
    detection's."""
    if len(frames) == 0:
        return np.zeros(0)
    probability = np.full(len(frames), np.nan)
    if boxes is not None and detector is not None and detector.scores_are_probabilities:
        probability = np.array([np.nan if box is None else box.score for box in boxes], dtype=np.float64)
    missing = np.isnan(probability)
    if missing.any():
        frames = np.asarray(frames)[missing]
        classifier = detector.frame_scores(frames) if detector is not None else None
        probability[missing] = classifier if classifier is not None else crop_classifier().frame_scores(frames)
    return np.sqrt(np.asarray(confidence).mean(axis=1) * probability)


def crop_classifier() -> FaceDetector:
    """The shared CROP_CLASSIFIER detector, which scores face crops no detector found (`face_scores`)."""
    return default_detector(CROP_CLASSIFIER)
