"""Where a face sits in the model's 96x96 frame: the one home of crop framing.

Training frames are cropped around a face's 68 iBUG landmarks (`LANDMARK_FRAMING`, fitted to
Kaggle's label statistics by `fit_framing`); at inference a detector's box or keypoints place the
crop (`box_crop`, `fit_keypoint_frame`), and a face tracked from frame to frame is re-cropped from
its keypoints (`refined_crop`). Crops are 2x3 photo -> frame matrices (`fkp.geometry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .geometry import apply_affine, crop_matrix, fit_similarity, rotate
from .keypoints import FRAME_SIZE, ibug68_to_kaggle

if TYPE_CHECKING:
    from .detect.base import Box


@dataclass(frozen=True)
class Framing:
    """Square crop relative to a reference box (centre cx, cy; side = max(w, h)):
    crop centre = box centre + offset * side, crop side = scale * side."""

    offset_x: float
    offset_y: float
    scale: float

    def crop(self, box_center: np.ndarray, box_side: float, angle_deg: float = 0.0) -> tuple[np.ndarray, float]:
        """Crop centre (2,) and side in photo pixels. The offset is in the upright face's axes: for a
        crop rotated by ``angle_deg`` (`fkp.geometry.crop_matrix`'s angle) it turns with the face."""
        offset = rotate(np.array([self.offset_x, self.offset_y]), -angle_deg) * box_side
        return np.asarray(box_center, dtype=np.float64) + offset, self.scale * box_side


# Crop relative to the bounding box of the 51 inner landmarks (brows, eyes, nose, mouth; the jaw
# contour swings with head yaw and tripled the horizontal spread), fitted by `calibrate` so that the
# mean positions of the 15 points match Kaggle's training labels (least squares, offset and scale).
LANDMARK_FRAMING = Framing(offset_x=0.0013, offset_y=-0.0922, scale=1.4800)


def landmark_box(landmarks68: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (2,) and side (max of width, height) of the box around the inner landmarks 17..67."""
    inner = np.asarray(landmarks68)[17:]
    lo, hi = np.nanmin(inner, axis=0), np.nanmax(inner, axis=0)
    return (lo + hi) / 2, float(np.max(hi - lo))


def landmark_crop(landmarks68: np.ndarray, framing: Framing = LANDMARK_FRAMING) -> tuple[np.ndarray, float]:
    """Centre (2,) and side of the square Kaggle-like crop that a face's (68, 2) landmarks imply."""
    return framing.crop(*landmark_box(landmarks68))


def fit_framing(
    landmarks68: np.ndarray, target_means: np.ndarray, boxes: tuple[np.ndarray, np.ndarray] | None = None
) -> Framing:
    """Least-squares Framing so that mapped mean keypoints match ``target_means`` (15, 2).

    ``landmarks68``: (N, 68, 2) in photo pixels. ``boxes``: optional (centres (N, 2), sides (N,)) of
    another reference box (e.g. a face detector's) in place of the landmark bounding box.
    """
    if boxes is None:
        pairs = [landmark_box(marks) for marks in landmarks68]
        boxes = (np.stack([c for c, _ in pairs]), np.array([s for _, s in pairs]))
    centres, sides = boxes
    points = ibug68_to_kaggle(landmarks68)
    normalised = ((points - centres[:, None]) / sides[:, None, None]).mean(axis=0)  # (15, 2)
    # frame = half + a * (u - offset)  <=>  frame - half = a * u + t  with t = -a * offset
    half = (FRAME_SIZE - 1) / 2
    rows, rhs = [], []
    for (ux, uy), (mx, my) in zip(normalised, target_means - half):
        rows += [[ux, 1, 0], [uy, 0, 1]]
        rhs += [mx, my]
    (a, tx, ty), *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return Framing(offset_x=float(-tx / a), offset_y=float(-ty / a), scale=float(FRAME_SIZE / a))


# Mean (x, y) of each keypoint in the 96x96 training frames (the 3,101 frames of ytf68's training
# people, labels corrected), Kaggle's keypoint order: where a refined crop puts a face's keypoints.
MEAN_FRAME_KEYPOINTS = np.array(
    [
        [64.95, 38.33],
        [30.57, 38.67],
        [58.17, 38.68],
        [71.40, 37.99],
        [37.23, 38.92],
        [24.17, 38.41],
        [57.50, 27.18],
        [78.51, 29.23],
        [37.57, 27.45],
        [16.30, 29.84],
        [48.62, 59.08],
        [62.25, 76.67],
        [34.33, 76.90],
        [48.65, 74.00],
        [48.76, 81.41],
    ]
)


def refined_crop(keypoints: np.ndarray) -> np.ndarray:
    """The photo -> frame matrix that puts a face's (15, 2) photo keypoints where training frames
    have them on average (a rotation, scale and shift fitted to MEAN_FRAME_KEYPOINTS)."""
    return fit_similarity(keypoints, MEAN_FRAME_KEYPOINTS)


def box_crop(framing: Framing, box: Box) -> np.ndarray:
    """A crop from a detector box: the framing around the box, rotated by the box's angle."""
    return crop_matrix(*framing.crop(box.center, box.side, box.angle), angle_deg=box.angle)


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
    return np.mean(
        [apply_affine(crop_matrix(*landmark_crop(marks)), box.landmarks[:count]) for box, marks in pairs], axis=0
    )
