"""Geometry shared by data conversion, augmentation and the demo: square face crops as 2x3 affine
matrices (photo pixels -> frame pixels, both with pixel centres at integer coordinates), plus
training augmentations in which the keypoints move with the image."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .keypoints import FLIP_PERMUTATION, FRAME_SIZE


def crop_matrix(center: tuple[float, float], size: float, angle_deg: float = 0.0, out_size: int = FRAME_SIZE) -> np.ndarray:
    """2x3 matrix mapping a square of side ``size`` photo pixels centred on ``center`` (rotated
    by ``angle_deg``, counter-clockwise on screen) onto an ``out_size`` frame."""
    scale = out_size / size
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta) * scale, np.sin(theta) * scale
    linear = np.array([[cos, -sin], [sin, cos]])
    half = (out_size - 1) / 2
    offset = np.array([half, half]) - linear @ np.asarray(center, dtype=np.float64)
    return np.hstack([linear, offset[:, None]])


def scale_matrix(factor: float) -> np.ndarray:
    """2x3 matrix of resizing an image by ``factor``: x -> factor * x + (factor - 1) / 2, because
    pixel centres sit at integer coordinates (also how a stride-s heatmap cell maps to the frame)."""
    return np.array([[factor, 0.0, (factor - 1) / 2], [0.0, factor, (factor - 1) / 2]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (..., 2) points; NaN points stay NaN."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def warp(image: np.ndarray, matrix: np.ndarray, out_size: int = FRAME_SIZE, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Warp ``image`` (H, W[, C]) by ``matrix`` into an out_size x out_size frame.

    Large reductions are first done with area averaging (pyrDown) so that downscaled crops are not
    aliased, as Kaggle's resized crops are not.
    """
    matrix = np.asarray(matrix, dtype=np.float64).copy()
    scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    while scale < 0.5 and min(image.shape[:2]) >= 4:
        image = cv2.pyrDown(image)
        # pyrDown's output pixel u is a Gaussian average centred on input pixel 2u
        matrix = matrix @ np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 1]])
        scale *= 2
    return cv2.warpAffine(image, matrix, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=border)


def flip_matrix(width: int = FRAME_SIZE) -> np.ndarray:
    """Horizontal mirror of a frame of the given width: x -> width - 1 - x."""
    return np.array([[-1.0, 0, width - 1], [0, 1.0, 0]])


def mark_outside(keypoints: np.ndarray, size: int = FRAME_SIZE) -> np.ndarray:
    """Set points outside the [-0.5, size - 0.5] frame to NaN (missing)."""
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
        matrix = crop_matrix(centre - shift, size / scale, rng.uniform(-self.max_rotation_deg, self.max_rotation_deg), size)
        flipped = bool(rng.random() < self.flip_prob)
        if flipped:
            matrix = np.vstack([flip_matrix(size), [0, 0, 1]])[:2] @ np.vstack([matrix, [0, 0, 1]])
        return matrix, flipped

    def __call__(self, image: np.ndarray, keypoints: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Augment a (96, 96) uint8 image and its (K, 2) keypoints (NaN = missing)."""
        size = image.shape[0]
        matrix, flipped = self.random_matrix(rng, size)
        image = warp(image, matrix, size)
        keypoints = apply_affine(matrix, keypoints)
        if flipped:
            keypoints = keypoints[list(FLIP_PERMUTATION)]
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
