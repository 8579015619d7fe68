"""Geometry: square face crops as 2x3 affine matrices (photo pixels -> frame pixels, both with pixel
centres at integer coordinates; see `fkp.keypoints` for the convention), warping with an anti-aliasing
pyramid, similarity fits, rotations and mirroring."""

from __future__ import annotations

import cv2
import numpy as np

from .keypoints import FRAME_SIZE


def crop_matrix(
    center: tuple[float, float], size: float, angle_deg: float = 0.0, out_size: int = FRAME_SIZE
) -> np.ndarray:
    """2x3 matrix mapping a square of side ``size`` photo pixels centred on ``center`` (rotated
    by ``angle_deg``, counter-clockwise on screen) onto an ``out_size`` frame."""
    scale = out_size / size
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta) * scale, np.sin(theta) * scale
    linear = np.array([[cos, -sin], [sin, cos]])
    half = (out_size - 1) / 2
    offset = np.array([half, half]) - linear @ np.asarray(center, dtype=np.float64)
    return np.hstack([linear, offset[:, None]])


def rotate(vectors: np.ndarray, angle_deg: float) -> np.ndarray:
    """(..., 2) vectors turned by ``angle_deg`` the way `crop_matrix` turns photo into frame axes."""
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    return np.asarray(vectors, dtype=np.float64) @ np.array([[cos, -sin], [sin, cos]]).T


def upright_angle(from_point: np.ndarray, to_point: np.ndarray) -> float:
    """The `crop_matrix` angle that turns the direction from_point -> to_point (e.g. the subject's
    right eye -> left eye, photo pixels, y down) into the frame's +x axis: the face comes out upright."""
    dx, dy = np.asarray(to_point, dtype=np.float64) - np.asarray(from_point, dtype=np.float64)
    return float(-np.degrees(np.arctan2(dy, dx)))


def scale_matrix(factor: float) -> np.ndarray:
    """2x3 matrix of resizing an image by ``factor``: x -> factor * x + (factor - 1) / 2, because
    pixel centres sit at integer coordinates (also how a stride-s heatmap cell maps to the frame)."""
    return np.array([[factor, 0.0, (factor - 1) / 2], [0.0, factor, (factor - 1) / 2]])


def fit_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 rotation + uniform scale + shift that best maps (N, 2) ``source`` points onto ``target``
    (least squares, no reflection; Umeyama 1991). NaN rows are ignored."""
    keep = np.isfinite(source).all(1) & np.isfinite(target).all(1)
    source, target = np.asarray(source, np.float64)[keep], np.asarray(target, np.float64)[keep]
    source_mean, target_mean = source.mean(0), target.mean(0)
    a, b = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(b.T @ a / len(a))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / a.var(0).sum()
    linear = scale * rotation
    return np.hstack([linear, (target_mean - linear @ source_mean)[:, None]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (..., 2) points; NaN points stay NaN."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def warp(
    image: np.ndarray,
    matrix: np.ndarray,
    out_size: int = FRAME_SIZE,
    border: int = cv2.BORDER_REPLICATE,
    pyramid: list | None = None,
) -> np.ndarray:
    """Warp ``image`` (H, W[, C]) by ``matrix`` into an out_size x out_size frame.

    Large reductions are first done with area averaging (pyrDown) so that downscaled crops are not
    aliased, as Kaggle's resized crops are not. ``pyramid``: a list starting with ``image`` that
    caches its pyrDown levels across several warps of the same image (extended as needed).
    """
    levels = pyramid if pyramid is not None else [image]
    matrix = np.asarray(matrix, dtype=np.float64).copy()
    scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    level = 0
    while scale < 0.5 and min(levels[level].shape[:2]) >= 4:
        if level + 1 == len(levels):
            levels.append(cv2.pyrDown(levels[level]))
        level += 1
        # pyrDown's output pixel u is a Gaussian average centred on input pixel 2u
        matrix = matrix @ np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 1]])
        scale *= 2
    return cv2.warpAffine(levels[level], matrix, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=border)


def rotate_photo(photo: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo turned by ``angle_deg`` (counter-clockwise on screen) about its centre, on a canvas
    expanded to hold all of it (black corners), and the 2x3 matrix that moves points with it."""
    height, width = photo.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle_deg, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width, new_height = int(np.ceil(height * sin + width * cos)), int(np.ceil(height * cos + width * sin))
    matrix[:, 2] += [(new_width - width) / 2, (new_height - height) / 2]
    image = cv2.warpAffine(
        photo, matrix, (new_width, new_height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return image, matrix


def flip_matrix(width: int = FRAME_SIZE) -> np.ndarray:
    """Horizontal mirror of a frame of the given width: x -> width - 1 - x."""
    return np.array([[-1.0, 0, width - 1], [0, 1.0, 0]])
