import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from fkp.augment import Augmentation, mark_outside
from fkp.data import load_source, to_arrays
from fkp.geometry import apply_affine, crop_matrix, invert_affine, warp
from fkp.keypoints import KEYPOINT_INDEX

GEOMETRY_ONLY = dict(brightness=0.0, contrast=0.0, blur_prob=0.0)


def blob(x, y, size=96, sigma=1.5):
    yy, xx = np.mgrid[:size, :size]
    return (255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))).astype(np.uint8)


def centroid(image):
    image = image.astype(float)
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    return np.array([(xx * image).sum(), (yy * image).sum()]) / image.sum()


def test_crop_matrix_maps_centre_and_inverts():
    matrix = crop_matrix((120.0, 80.0), 60.0, angle_deg=20)
    assert np.allclose(apply_affine(matrix, [[120.0, 80.0]]), [[47.5, 47.5]])
    points = np.array([[100.0, 70.0], [140.0, 95.0]])
    assert np.allclose(apply_affine(invert_affine(matrix), apply_affine(matrix, points)), points)
    assert np.isclose(
        np.linalg.norm(apply_affine(matrix, [[150.0, 80.0]]) - 47.5), 48.0
    )  # half a side -> half the frame


def test_warp_moves_pixels_like_the_points_also_when_downscaling_a_lot():
    photo = cv2.circle(np.zeros((800, 800), np.uint8), (400, 300), 12, 255, -1)
    for side in (90.0, 300.0, 480.0, 700.0):  # 1x to 7x reduction: direct and pyramid paths
        matrix = crop_matrix((380.0, 320.0), side)
        frame = warp(photo, matrix).astype(float)
        yy, xx = np.mgrid[:96, :96]
        centre = [(xx * frame).sum() / frame.sum(), (yy * frame).sum() / frame.sum()]
        assert np.allclose(centre, apply_affine(matrix, [[400.0, 300.0]])[0], atol=0.05), side


@pytest.mark.parametrize("seed", range(6))
def test_augmentation_moves_points_with_the_image(seed):
    points = np.array([[30.0, 35.0], [66.0, 38.0], [48.0, 62.0], [35.0, 76.0], [62.0, 77.0]])
    augment = Augmentation(flip_prob=0.0, max_rotation_deg=25, scale_range=(0.8, 1.2), max_shift_px=6, **GEOMETRY_ONLY)
    matrix, _ = augment.random_matrix(np.random.default_rng(seed))
    for x, y in points:  # one blob per image: where the warped blob lands is where the point must go
        image, moved = augment(blob(x, y), np.array([[x, y]]), np.random.default_rng(seed))
        assert np.allclose(moved[0], apply_affine(matrix, [[x, y]])[0], atol=1e-4)
        if ((moved[0] > 6) & (moved[0] < 89)).all():
            assert np.allclose(centroid(image), moved[0], atol=0.15)


def test_flip_swaps_left_and_right_on_a_real_face():
    images, keypoints = to_arrays(load_source(FIXTURES / "frames.parquet"))
    augment = Augmentation(flip_prob=1.0, max_rotation_deg=0, scale_range=(1, 1), max_shift_px=0, **GEOMETRY_ONLY)
    image, flipped = augment(images[0], keypoints[0], np.random.default_rng(0))
    assert np.array_equal(image, images[0][:, ::-1])
    left, right = KEYPOINT_INDEX["left_eye_center"], KEYPOINT_INDEX["right_eye_center"]
    assert keypoints[0, left, 0] > keypoints[0, right, 0]  # subject's left is on the image's right
    assert flipped[left, 0] > flipped[right, 0]  # still true after the mirror, thanks to the swap
    assert np.allclose(flipped[left], [95 - keypoints[0, right, 0], keypoints[0, right, 1]], atol=1e-4)
    nose = KEYPOINT_INDEX["nose_tip"]
    assert np.allclose(flipped[nose, 0], 95 - keypoints[0, nose, 0], atol=1e-4)


def test_points_pushed_out_of_the_frame_become_missing():
    points = np.array([[2.0, 50.0], [93.0, 50.0], [48.0, 48.0]])
    augment = Augmentation(flip_prob=0.0, max_rotation_deg=0, scale_range=(1.5, 1.5), max_shift_px=0, **GEOMETRY_ONLY)
    _, out = augment(np.zeros((96, 96), np.uint8), points, np.random.default_rng(0))
    assert np.isnan(out[0]).all() and np.isnan(out[1]).all() and np.isfinite(out[2]).all()
    assert np.isnan(mark_outside(np.array([[-0.6, 3.0], [95.4, 95.4]]))[0]).all()


def test_photometric_augmentation_keeps_points_and_changes_pixels():
    images, keypoints = to_arrays(load_source(FIXTURES / "frames.parquet"))
    augment = Augmentation(
        flip_prob=0.0,
        max_rotation_deg=0,
        scale_range=(1, 1),
        max_shift_px=0,
        brightness=0.3,
        contrast=0.4,
        blur_prob=1.0,
    )
    image, points = augment(images[1], keypoints[1], np.random.default_rng(3))
    assert np.allclose(points, keypoints[1], atol=1e-4)
    assert image.dtype == np.uint8 and np.abs(image.astype(int) - images[1]).mean() > 1
