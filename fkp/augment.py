"""Training augmentation of 96x96 frames: random rotation, zoom, shift, mirroring, contrast,
brightness, blur and occlusion, with the keypoints moved along with the image."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import apply_affine, crop_matrix, flip_matrix, warp
from .keypoints import FLIP_PERMUTATION, FRAME_SIZE


def mark_outside(keypoints: np.ndarray, size: int = FRAME_SIZE) -> np.ndarray:
    """Set (..., 2) points outside the [-0.5, size - 0.5] frame to NaN (missing)."""
    keypoints = np.array(keypoints, dtype=np.float32)
    outside = ((keypoints < -0.5) | (keypoints > size - 0.5)).any(axis=-1)
    keypoints[outside] = np.nan
    return keypoints


@dataclass
class Augmentation:
    """Random augmentation of 96x96 frames. Geometric parameters are ranges around identity."""

    flip_prob: float = 0.5
    max_rotation_deg: float = 15.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_shift_px: float = 5.0
    brightness: float = 0.25  # +- fraction of 255 added
    contrast: float = 0.3  # multiply by 1 +- this
    blur_prob: float = 0.2
    occlusion_prob: float = 0.0  # a grey rectangle of 15-40% of the side somewhere on the frame

    def random_matrix(self, rng: np.random.Generator, size: int = FRAME_SIZE) -> tuple[np.ndarray, bool]:
        """A frame->frame 2x3 matrix and whether it mirrors."""
        centre = (size - 1) / 2
        shift = rng.uniform(-self.max_shift_px, self.max_shift_px, size=2)
        scale = rng.uniform(*self.scale_range)
        matrix = crop_matrix(
            centre - shift, size / scale, rng.uniform(-self.max_rotation_deg, self.max_rotation_deg), size
        )
        flipped = bool(rng.random() < self.flip_prob)
        if flipped:
            matrix = np.vstack([flip_matrix(size), [0, 0, 1]])[:2] @ np.vstack([matrix, [0, 0, 1]])
        return matrix, flipped

    def __call__(
        self, image: np.ndarray, keypoints: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment a (96, 96) uint8 image and its (K, 2) keypoints (NaN = missing), or several label
        sets of the same image at once, (L, K, 2) (e.g. human and teacher labels)."""
        size = image.shape[0]
        matrix, flipped = self.random_matrix(rng, size)
        image = warp(image, matrix, size)
        keypoints = apply_affine(matrix, keypoints)
        if flipped:
            keypoints = keypoints[..., list(FLIP_PERMUTATION), :]
        keypoints = mark_outside(keypoints, size)
        image = image.astype(np.float32)
        image = (image - 127.5) * rng.uniform(1 - self.contrast, 1 + self.contrast) + 127.5
        image += rng.uniform(-self.brightness, self.brightness) * 255
        if rng.random() < self.blur_prob:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
        if rng.random() < self.occlusion_prob:  # the points stay labelled: the model learns to infer hidden ones
            width, height = (rng.uniform(0.15, 0.4, size=2) * size).astype(int)
            x, y = rng.integers(0, size - width), rng.integers(0, size - height)
            image[y : y + height, x : x + width] = rng.uniform(0, 255)
        return np.clip(image, 0, 255).astype(np.uint8), keypoints
