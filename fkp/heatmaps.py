"""Heatmap codec: keypoints <-> per-keypoint Gaussian heatmaps.

Coordinates are in input-image pixels (see `fkp.keypoints` for the convention). A heatmap of
stride ``s`` has cell ``k`` centred on input pixel coordinate ``k * s + (s - 1) / 2``, so a stride-2
48x48 heatmap covers a 96x96 frame exactly.

Targets are unnormalised Gaussians with peak 1, so ``log(heatmap)`` is an exact paraboloid and the
decoder's quadratic fit of the log around the peak recovers the centre without the ~0.3 px rounding
loss of a plain argmax, also where the peak sits on the border (a one-sided 3-point fit).

Sigma: fkp uses 1.5 cells at stride 2, i.e. 3 px of the 96x96 frame, where the original project used
5 px at stride 1. Neighbouring keypoints sit only ~7 px apart (eye centre vs inner corner), and a
5 px Gaussian smears them into one blob; a narrower target localises better. It stays wide enough
(> 1 cell) that the 3-cell quadratic fit sees the curvature, and the round trip is exact to
< 0.05 px anywhere in the frame (tests/test_heatmaps.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from .keypoints import FRAME_SIZE

_EPS = 1e-10


def to_heatmap_coords(xy: np.ndarray | torch.Tensor, stride: int):
    """Input-pixel coordinates -> heatmap-cell coordinates."""
    return (xy - (stride - 1) / 2) / stride


def from_heatmap_coords(xy: np.ndarray | torch.Tensor, stride: int):
    """Heatmap-cell coordinates -> input-pixel coordinates."""
    return xy * stride + (stride - 1) / 2


def encode(
    keypoints: np.ndarray,
    visible: np.ndarray | None = None,
    heatmap_size: int = 48,
    stride: int = 2,
    sigma: float = 1.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Encode keypoints into Gaussian heatmaps.

    Args:
        keypoints: (K, 2) float (x, y) in input pixels; NaN marks a missing point.
        visible: optional (K,) bool; False marks a point as missing even if it has coordinates.
        heatmap_size: H = W of the output heatmaps.
        stride: input pixels per heatmap cell.
        sigma: Gaussian standard deviation in heatmap cells.

    Returns:
        heatmaps (K, H, W) float32 with peak 1 at each present point (all zeros if missing) and
        weights (K,) float32, 1 for present points and 0 for missing ones.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    present = np.isfinite(keypoints).all(axis=1)
    if visible is not None:
        present &= np.asarray(visible, dtype=bool)
    centres = to_heatmap_coords(np.where(present[:, None], keypoints, 0.0), stride)
    grid = np.arange(heatmap_size, dtype=np.float64)
    gx = np.exp(-((grid[None, :] - centres[:, :1]) ** 2) / (2 * sigma**2))  # (K, W)
    gy = np.exp(-((grid[None, :] - centres[:, 1:]) ** 2) / (2 * sigma**2))  # (K, H)
    heatmaps = gy[:, :, None] * gx[:, None, :] * present[:, None, None]
    return heatmaps.astype(np.float32), present.astype(np.float32)


def _refine_1d(logs: np.ndarray) -> np.ndarray:
    """Vertex offset of the parabola through 3 equally spaced log values (..., 3), from the middle one."""
    left, mid, right = logs[..., 0], logs[..., 1], logs[..., 2]
    curvature = left - 2 * mid + right
    curved = curvature < -_EPS
    return np.where(curved, 0.5 * (left - right) / np.where(curved, curvature, -1.0), 0.0)


def modulate(heatmaps: np.ndarray, sigma: float) -> np.ndarray:
    """DARK's distribution modulation (Zhang et al., CVPR 2020): blur (N, H, W) heatmaps with a
    Gaussian of ``sigma`` cells (borders replicated). A predicted heatmap's top is noisy and often not
    one clean peak; blurring pulls it back towards a Gaussian, so the quadratic fit finds a steadier
    centre, while the centre of a Gaussian target does not move (the round trip stays exact)."""
    height, width = heatmaps.shape[-2:]
    rows = _blur_matrix(height, float(sigma)).astype(heatmaps.dtype)
    columns = _blur_matrix(width, float(sigma)).astype(heatmaps.dtype)
    return rows @ heatmaps @ columns.T  # separable: two small matrix products, fast on any batch


@functools.lru_cache(maxsize=16)
def _blur_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) matrix of a 1-D Gaussian blur whose out-of-range taps read the nearest edge cell."""
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    matrix = np.zeros((size, size), np.float32)
    for i in range(size):
        np.add.at(matrix[i], np.clip(i + offsets, 0, size - 1), kernel)
    matrix.setflags(write=False)  # shared by the cache
    return matrix


def decode(heatmaps: torch.Tensor | np.ndarray, stride: int = 2, refine: bool = True, blur_sigma: float = 0.0):
    """Decode heatmaps into sub-pixel keypoints and confidences.

    Args:
        heatmaps: (..., K, H, W) tensor or array.
        stride: input pixels per heatmap cell.
        refine: quadratic refinement of the log-heatmap around the peak (False: plain argmax).
        blur_sigma: with ``refine``, first `modulate` the heatmaps with a Gaussian of this many cells
            (0: none). fkp uses the training target's sigma.

    Returns:
        keypoints (..., K, 2) float32 (x, y) in input pixels and confidence (..., K) float32, the
        heatmap's peak value clipped to [0, 1]. Same type (tensor / array) as the input; computed in
        NumPy (for one face, a few dozen small torch operations cost more than the network's last
        layers: benchmarks/speed.py), a tensor is moved to the CPU and the results back to its device.
    """
    as_tensor = isinstance(heatmaps, torch.Tensor)
    hm = heatmaps.detach().float().cpu().numpy() if as_tensor else np.asarray(heatmaps, np.float32)
    *lead, height, width = hm.shape
    flat = hm.reshape(-1, height, width)
    rows = np.arange(len(flat))
    index = flat.reshape(len(flat), -1).argmax(axis=1)
    peak = flat.reshape(len(flat), -1)[rows, index]
    located = flat
    if refine and blur_sigma > 0 and len(flat):
        # near the border the blur's padding would pull the centre; there the raw map is used
        margin = max(1, int(np.ceil(3 * blur_sigma)))
        py, px = np.divmod(index, width)
        inside = (px >= margin) & (px < width - margin) & (py >= margin) & (py < height - margin)
        if inside.any():
            located = flat.copy()
            located[inside] = modulate(flat[inside], blur_sigma)
            index = located.reshape(len(flat), -1).argmax(axis=1)
    py, px = np.divmod(index, width)
    xy = np.stack([px, py], axis=-1).astype(np.float32)
    if refine and len(flat):
        # a 3-cell window around the peak, moved inwards at the border (one-sided fit)
        cx = np.clip(px, 1, width - 2)
        cy = np.clip(py, 1, height - 2)
        window = np.array([-1, 0, 1])
        along_x = np.log(np.maximum(located[rows[:, None], py[:, None], cx[:, None] + window], _EPS))
        along_y = np.log(np.maximum(located[rows[:, None], cy[:, None] + window, px[:, None]], _EPS))
        x = cx + _refine_1d(along_x)
        y = cy + _refine_1d(along_y)
        # never move further than 1.5 cells from the argmax (guards flat or noisy maps)
        x = np.clip(np.clip(x, px - 1.5, px + 1.5), -0.5, width - 0.5)
        y = np.clip(np.clip(y, py - 1.5, py + 1.5), -0.5, height - 0.5)
        xy = np.stack([x, y], axis=-1).astype(np.float32)
    keypoints = from_heatmap_coords(xy, stride).astype(np.float32).reshape(*lead, 2)
    confidence = np.clip(peak, 0, 1).astype(np.float32).reshape(*lead)
    if as_tensor:
        return torch.from_numpy(keypoints).to(heatmaps.device), torch.from_numpy(confidence).to(heatmaps.device)
    return keypoints, confidence


@dataclass(frozen=True)
class HeatmapCodec:
    """One object for the keypoints <-> heatmaps mapping of a model: the input frame size, the
    stride (input pixels per heatmap cell) and the target's sigma (cells), with symmetric
    `encode` / `decode` (after mmpose's codecs). ``refine``: sub-pixel quadratic refinement when
    decoding (False: plain argmax); decoding modulates with the same sigma (DARK)."""

    input_size: int = FRAME_SIZE
    stride: int = 2
    sigma: float = 1.5
    refine: bool = True

    @property
    def heatmap_size(self) -> int:
        return self.input_size // self.stride

    def encode(self, keypoints: np.ndarray, visible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(K, 2) input-pixel keypoints (NaN = missing) -> heatmaps (K, H, W) and weights (K,)."""
        return encode(keypoints, visible, heatmap_size=self.heatmap_size, stride=self.stride, sigma=self.sigma)

    def decode(self, heatmaps: torch.Tensor | np.ndarray):
        """(..., K, H, W) heatmaps -> keypoints (..., K, 2) in input pixels and confidence (..., K)."""
        return decode(heatmaps, stride=self.stride, refine=self.refine, blur_sigma=self.sigma if self.refine else 0.0)
