"""Accuracy metrics on keypoints in frame (or photo) pixels; missing targets (NaN) are ignored."""

from __future__ import annotations

import numpy as np

from .keypoints import KEYPOINT_INDEX, KEYPOINT_NAMES


def keypoint_metrics(predicted: np.ndarray, target: np.ndarray) -> dict:
    """Kaggle RMSE and NME of (N, 15, 2) predictions against (N, 15, 2) targets (NaN = missing).

    rmse: root mean squared error over present coordinates (Kaggle's metric), in pixels.
    nme: mean point-to-point error divided by the inter-ocular distance (outer eye corners, or the
         eye centres where a corner is missing), over present points and images where it is defined.
    per_keypoint: {name: {"rmse": ..., "nme": ..., "count": ...}}.
    """
    predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    present = np.isfinite(target).all(axis=-1)  # (N, K)
    squared = np.where(present[..., None], (predicted - np.nan_to_num(target)) ** 2, 0.0)
    distance = np.sqrt(squared.sum(-1))
    outer = _pair_distance(target, "left_eye_outer_corner", "right_eye_outer_corner")
    centres = _pair_distance(target, "left_eye_center", "right_eye_center")
    interocular = np.where(np.isfinite(outer), outer, centres)
    normalised = distance / np.where(np.isfinite(interocular) & (interocular > 0), interocular, np.nan)[:, None]
    nme_mask = present & np.isfinite(normalised)
    per_keypoint = {}
    for k, name in enumerate(KEYPOINT_NAMES):
        count = int(present[:, k].sum())
        per_keypoint[name] = {
            "rmse": float(np.sqrt(squared[:, k].sum() / (2 * count))) if count else float("nan"),
            "nme": float(normalised[nme_mask[:, k], k].mean()) if nme_mask[:, k].any() else float("nan"),
            "count": count,
        }
    n_points = int(present.sum())
    return {
        "rmse": float(np.sqrt(squared.sum() / (2 * n_points))) if n_points else float("nan"),
        "nme": float(normalised[nme_mask].mean()) if nme_mask.any() else float("nan"),
        "n_images": len(target),
        "n_points": n_points,
        "per_keypoint": per_keypoint,
    }


def _pair_distance(points: np.ndarray, a: str, b: str) -> np.ndarray:
    return np.linalg.norm(points[:, KEYPOINT_INDEX[a]] - points[:, KEYPOINT_INDEX[b]], axis=-1)
