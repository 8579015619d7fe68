"""The 15 keypoints of Kaggle's Facial Keypoints Detection competition.

This module is the one home for keypoint names, their order, left/right flip pairs and drawing
colours. "left" is the subject's left, which appears on the image's right-hand side.

Pixel convention used throughout fkp: (x, y) with x to the right and y down, in pixels, where the
centre of the top-left pixel is (0, 0); a 96x96 frame spans [-0.5, 95.5] on both axes. Kaggle's
labels use the same convention.
"""

from __future__ import annotations

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

# RGB drawing colours: the subject's left side in warm colours, right in cool, midline in green/white.
KEYPOINT_COLORS: dict[str, tuple[int, int, int]] = {
    "left_eye_center": (255, 64, 64),
    "right_eye_center": (64, 128, 255),
    "left_eye_inner_corner": (255, 140, 0),
    "left_eye_outer_corner": (255, 215, 0),
    "right_eye_inner_corner": (0, 200, 255),
    "right_eye_outer_corner": (140, 90, 255),
    "left_eyebrow_inner_end": (255, 105, 180),
    "left_eyebrow_outer_end": (200, 0, 120),
    "right_eyebrow_inner_end": (0, 255, 200),
    "right_eyebrow_outer_end": (0, 140, 140),
    "nose_tip": (60, 220, 60),
    "mouth_left_corner": (255, 160, 120),
    "mouth_right_corner": (120, 170, 255),
    "mouth_center_top_lip": (230, 255, 120),
    "mouth_center_bottom_lip": (255, 255, 255),
}
