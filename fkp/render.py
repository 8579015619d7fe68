"""Drawing for the demo: keypoints on photos, per-keypoint heatmap overlays, a combined overlay.
All images are (H, W, 3) uint8 RGB; coordinates follow `fkp.keypoints`' pixel convention."""

from __future__ import annotations

import cv2
import numpy as np

from .keypoints import KEYPOINT_COLORS, KEYPOINT_NAMES
from .transforms import apply_affine, invert_affine, scale_matrix

COLORS = np.array([KEYPOINT_COLORS[name] for name in KEYPOINT_NAMES], dtype=np.float32)  # (15, 3)


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def display_scale(photo: np.ndarray, max_side: int = 1280) -> float:
    return min(1.0, max_side / max(photo.shape[:2]))


def to_display(points: np.ndarray, scale: float) -> np.ndarray:
    """Photo coordinates (..., 2) -> coordinates in the photo resized by ``scale``."""
    return apply_affine(scale_matrix(scale), points)


def resize(photo: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return photo.copy()
    return cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def draw_faces(photo: np.ndarray, faces, scale: float = 1.0) -> np.ndarray:
    """The photo (resized by ``scale``) with each face's box, number and 15 colour-coded points."""
    canvas = resize(photo, scale)
    radius = max(2, round(min(canvas.shape[:2]) / 160))
    for number, face in enumerate(faces, start=1):
        if face.box is not None:
            corners = to_display(np.array([[face.box.x, face.box.y], [face.box.x + face.box.width, face.box.y + face.box.height]]), scale)
            top_left, bottom_right = (tuple(round(float(v)) for v in corner) for corner in corners)
            cv2.rectangle(canvas, top_left, bottom_right, (255, 255, 255), max(1, radius // 2), cv2.LINE_AA)
            cv2.putText(canvas, str(number), (top_left[0] + 3, top_left[1] + 6 * radius), cv2.FONT_HERSHEY_SIMPLEX, radius / 4, (255, 255, 255), max(1, radius // 2), cv2.LINE_AA)
        for (x, y), color in zip(to_display(face.keypoints, scale), COLORS):
            centre = (round(float(x)), round(float(y)))
            cv2.circle(canvas, centre, radius + 1, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(canvas, centre, radius, tuple(int(c) for c in color), -1, cv2.LINE_AA)
    return canvas


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """(H, W) heatmap -> (H, W, 3) RGB with the 'inferno' colour map, 0..1 mapped to full range."""
    values = (np.clip(heatmap, 0, 1) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(values, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def keypoint_overlays(face, stride: int, size: int = 192, alpha: float = 0.55) -> list[np.ndarray]:
    """One image per keypoint: the face crop the model saw with that keypoint's heatmap over it."""
    frame = cv2.cvtColor(cv2.resize(face.frame, (size, size), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB).astype(np.float32)
    factor = size / face.frame.shape[0]
    overlays = []
    for heatmap, (x, y), color in zip(face.heatmaps, to_display(face.frame_keypoints, factor), COLORS):
        heat = cv2.resize(np.clip(heatmap, 0, 1), (size, size), interpolation=cv2.INTER_LINEAR)
        weight = alpha * np.clip(heat * 1.5, 0, 1)[..., None]
        image = (frame * (1 - weight) + colorize(heat).astype(np.float32) * weight).astype(np.uint8)
        centre = (round(float(x)), round(float(y)))
        cv2.drawMarker(image, centre, tuple(int(c) for c in color), cv2.MARKER_CROSS, 12, 2, cv2.LINE_AA)
        overlays.append(image)
    return overlays


def combined_overlay(photo: np.ndarray, faces, stride: int, opacity: float = 0.6, scale: float = 1.0) -> np.ndarray:
    """The photo with every face's 15 heatmaps warped back onto it, each in its keypoint's colour."""
    canvas = resize(photo, scale).astype(np.float32)
    height, width = canvas.shape[:2]
    heat_to_frame = np.vstack([scale_matrix(stride), [0, 0, 1]])  # fkp.heatmaps' cell convention
    photo_to_display = np.vstack([scale_matrix(scale), [0, 0, 1]])
    color_sum = np.zeros((height, width, 3), np.float32)
    weight_sum = np.zeros((height, width), np.float32)
    for face in faces:
        frame_to_photo = np.vstack([invert_affine(face.matrix), [0, 0, 1]])
        heat_to_display = (photo_to_display @ frame_to_photo @ heat_to_frame)[:2]
        heat = np.clip(face.heatmaps, 0, 1).astype(np.float32)  # (15, h, w)
        # warping is linear, so sum colour-weighted heatmaps on the small grid and warp once (4 channels)
        small = np.concatenate([np.einsum("khw,kc->hwc", heat, COLORS), heat.sum(0)[..., None]], axis=-1)
        warped = cv2.warpAffine(small, heat_to_display, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
        color_sum += warped[..., :3]
        weight_sum += warped[..., 3]
    alpha = opacity * np.clip(weight_sum, 0, 1)[..., None]
    mean_color = color_sum / np.maximum(weight_sum, 1e-6)[..., None]
    return (canvas * (1 - alpha) + mean_color * alpha).clip(0, 255).astype(np.uint8)
