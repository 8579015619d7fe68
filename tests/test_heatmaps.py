import numpy as np
import pytest
import torch

from fkp.geometry import apply_affine, scale_matrix
from fkp.heatmaps import decode, encode, from_heatmap_coords, to_heatmap_coords
from fkp.keypoints import (
    FLIP_PAIRS,
    FLIP_PERMUTATION,
    KAGGLE_COLUMNS,
    KEYPOINT_COLORS,
    KEYPOINT_NAMES,
)


def grid_points(step=3.7):
    """Points across the whole 96x96 frame including both borders (pixel edges at -0.5 and 95.5)."""
    values = np.concatenate([[-0.45, -0.2, 0.0, 0.3], np.arange(0.7, 95, step), [94.8, 95.0, 95.3, 95.45]])
    xs, ys = np.meshgrid(values, values[::-1])
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


@pytest.mark.parametrize(
    "stride,sigma,blur", [(1, 2.0, 0), (2, 1.5, 0), (4, 1.0, 0), (1, 5.0, 0), (2, 1.5, 1.5), (1, 5.0, 5.0)]
)
def test_round_trip_within_005px_everywhere(stride, sigma, blur):
    """Also with DARK-style modulation (blur = the target's sigma, as fkp decodes), borders included."""
    points = grid_points()
    worst = 0.0
    for chunk in np.array_split(points, len(points) // 15):
        heatmaps, weights = encode(chunk, heatmap_size=96 // stride, stride=stride, sigma=sigma)
        decoded, confidence = decode(heatmaps, stride=stride, blur_sigma=blur)
        worst = max(worst, np.abs(decoded - chunk).max())
        assert weights.all() and (confidence > 0.5).all()
    assert worst < 0.05, worst


def test_argmax_decoding_loses_subpixel_precision():
    points = np.random.default_rng(0).uniform(5, 90, size=(15, 2))
    heatmaps, _ = encode(points, heatmap_size=48, stride=2, sigma=1.5)
    refined, _ = decode(heatmaps, stride=2)
    plain, _ = decode(heatmaps, stride=2, refine=False)
    assert np.abs(refined - points).max() < 0.05
    assert np.abs(plain - points).mean() > 0.3  # rounding to 2-px cells
    assert np.abs(plain - points).max() <= 1.0 + 1e-6


def test_modulation_steadies_noisy_heatmaps():
    """On targets with noise (a predicted heatmap's ragged top), blurring before the quadratic fit
    gives a smaller error than fitting the raw map."""
    rng = np.random.default_rng(0)
    points = rng.uniform(20, 76, size=(15, 2))
    errors = {0: [], 1.5: []}
    for _ in range(20):
        heatmaps, _ = encode(points, heatmap_size=48, stride=2, sigma=1.5)
        noisy = np.clip(heatmaps + rng.normal(0, 0.05, heatmaps.shape).astype(np.float32), 0, None)
        for blur in errors:
            errors[blur].append(np.abs(decode(noisy, stride=2, blur_sigma=blur)[0] - points).mean())
    assert np.mean(errors[1.5]) < 0.8 * np.mean(errors[0])


def test_missing_points_are_zero_maps_and_zero_weights():
    points = np.random.default_rng(1).uniform(10, 80, size=(15, 2)).astype(np.float32)
    points[3] = np.nan
    visible = np.ones(15, bool)
    visible[7] = False
    heatmaps, weights = encode(points, visible, heatmap_size=48, stride=2, sigma=1.5)
    assert weights[3] == 0 and weights[7] == 0 and weights.sum() == 13
    assert heatmaps[3].max() == 0 and heatmaps[7].max() == 0
    assert np.isclose(heatmaps[0].max(), 1.0, atol=0.05)


def test_decode_keeps_tensor_or_array_and_batch_shape():
    maps = torch.rand(2, 3, 15, 24, 24)
    xy, conf = decode(maps, stride=4)
    assert isinstance(xy, torch.Tensor) and xy.shape == (2, 3, 15, 2) and conf.shape == (2, 3, 15)
    xy_np, _ = decode(maps.numpy(), stride=4)
    assert isinstance(xy_np, np.ndarray)
    # flat or empty maps never produce coordinates outside the frame
    xy0, conf0 = decode(torch.zeros(1, 15, 48, 48), stride=2)
    assert (xy0 >= -0.5).all() and (xy0 <= 95.5).all() and (conf0 == 0).all()


def test_heatmap_coordinate_convention_is_symmetric_under_mirroring():
    for stride in (1, 2, 4):
        cells = np.arange(96 // stride, dtype=float)
        pixels = from_heatmap_coords(cells, stride)
        assert np.allclose(pixels, 95 - pixels[::-1])  # mirrored cell k == mirrored pixel
        assert np.allclose(to_heatmap_coords(pixels, stride), cells)
        assert np.allclose(
            apply_affine(scale_matrix(stride), np.stack([cells, cells], 1))[:, 0], pixels
        )  # one convention


def test_keypoint_definitions_in_one_place():
    assert (
        len(KEYPOINT_NAMES) == 15
        and KAGGLE_COLUMNS[0] == "left_eye_center_x"
        and KAGGLE_COLUMNS[-1] == "mouth_center_bottom_lip_y"
    )
    assert all(FLIP_PERMUTATION[FLIP_PERMUTATION[i]] == i for i in range(15))
    for i, j in FLIP_PAIRS:
        assert (
            KEYPOINT_NAMES[i].replace("left", "right") == KEYPOINT_NAMES[j]
            or KEYPOINT_NAMES[i].replace("right", "left") == KEYPOINT_NAMES[j]
        )
    assert len(FLIP_PAIRS) == 6
    assert set(KEYPOINT_COLORS) == set(KEYPOINT_NAMES)
