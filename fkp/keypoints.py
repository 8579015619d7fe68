"""The 15 keypoints of Kaggle's Facial Keypoints Detection competition.

This module is the one home for keypoint names, their order, left/right flip pairs and drawing
colours. "left" is the subject's left, which appears on the image's right-hand side.

Pixel convention used throughout fkp: (x, y) with x to the right and y down, in pixels, where the
centre of the top-left pixel is (0, 0); a 96x96 frame spans [-0.5, 95.5] on both axes. Kaggle's
labels use the same convention.
"""

from __future__ import annotations

import numpy as np

FRAME_SIZE = 96  # Kaggle's face crops are 96x96 grayscale

KEYPOINT_NAMES: tuple[str, ...] = (
    "left_eye_center",
    "right_eye_center",
    "left_eye_inner_corner",
    "left_eye_outer_corner",
    "right_eye_inner_corner",
    "right_eye_outer_corner",
    "left_eyebrow_inner_end",
    "left_eyebrow_outer_end",
    "right_eyebrow_inner_end",
    "right_eyebrow_outer_end",
    "nose_tip",
    "mouth_left_corner",
    "mouth_right_corner",
    "mouth_center_top_lip",
    "mouth_center_bottom_lip",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
KEYPOINT_INDEX = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

# Kaggle's 30 label columns, in its order: x then y of each keypoint.
KAGGLE_COLUMNS: tuple[str, ...] = tuple(f"{name}_{axis}" for name in KEYPOINT_NAMES for axis in ("x", "y"))


def _mirror(name: str) -> str:
    if "left" in name:
        return name.replace("left", "right")
    return name.replace("right", "left")


# Index permutation applied after a horizontal flip: the new point i is the old point FLIP_PERMUTATION[i].
FLIP_PERMUTATION: tuple[int, ...] = tuple(KEYPOINT_INDEX[_mirror(n)] for n in KEYPOINT_NAMES)
FLIP_PAIRS: tuple[tuple[int, int], ...] = tuple((i, j) for i, j in enumerate(FLIP_PERMUTATION) if i < j)

# RGB drawing colours: the subject's left side in warm colours, right in cool, midline in greens and
# maroon. None is near white or near black (relative luminance 0.05-0.75): the demo draws each point
# with a dark outline, so it reads on light and dark skin alike (tests/test_heatmaps.py checks this).
KEYPOINT_COLORS: dict[str, tuple[int, int, int]] = {
    "left_eye_center": (230, 25, 75),
    "right_eye_center": (0, 130, 200),
    "left_eye_inner_corner": (245, 130, 48),
    "left_eye_outer_corner": (255, 200, 0),
    "right_eye_inner_corner": (70, 220, 230),
    "right_eye_outer_corner": (70, 80, 255),
    "left_eyebrow_inner_end": (240, 50, 230),
    "left_eyebrow_outer_end": (145, 30, 180),
    "right_eyebrow_inner_end": (0, 190, 160),
    "right_eyebrow_outer_end": (0, 120, 120),
    "nose_tip": (60, 180, 75),
    "mouth_left_corner": (190, 110, 40),
    "mouth_right_corner": (100, 150, 255),
    "mouth_center_top_lip": (180, 220, 30),
    "mouth_center_bottom_lip": (150, 20, 20),
}


# ---------------------------------------------------------------------------------------------
# From the iBUG 68-point layout (ytf68, 300-W) to Kaggle's 15

# Each Kaggle keypoint as the mean of these iBUG-68 points (0-based; iBUG "right" = subject's right).
IBUG68_TO_KAGGLE: dict[str, tuple[int, ...]] = {
    "left_eye_center": (42, 43, 44, 45, 46, 47),
    "right_eye_center": (36, 37, 38, 39, 40, 41),
    "left_eye_inner_corner": (42,),
    "left_eye_outer_corner": (45,),
    "right_eye_inner_corner": (39,),
    "right_eye_outer_corner": (36,),
    "left_eyebrow_inner_end": (22,),
    "left_eyebrow_outer_end": (26,),
    "right_eyebrow_inner_end": (21,),
    "right_eyebrow_outer_end": (17,),
    "nose_tip": (30,),
    "mouth_left_corner": (54,),
    "mouth_right_corner": (48,),
    # Kaggle's lip points sit between iBUG's outer and inner lip contours (see `calibrate`).
    "mouth_center_top_lip": (51, 62),
    "mouth_center_bottom_lip": (57, 66),
}


def ibug68_to_kaggle(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) iBUG landmarks -> (..., 15, 2) Kaggle keypoints."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    return np.stack([landmarks[..., list(IBUG68_TO_KAGGLE[n]), :].mean(axis=-2) for n in KEYPOINT_NAMES], axis=-2)
