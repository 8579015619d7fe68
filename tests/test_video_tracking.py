"""The video tracker's measured behaviour (fkp.tracking, tuned with benchmarks/video.py): a still face's
crop holds and its keypoints jitter less than independent photos', a moving face's crop follows it, new
tracks start from a re-fitted crop, and the fast model's tracker uses its own settings (the fast model is
named, so that $FKP_MODEL does not change what is measured)."""

import cv2
import numpy as np
import pytest
from conftest import ROOT

from fkp.framing import MEAN_FRAME_KEYPOINTS
from fkp.geometry import apply_affine, crop_matrix
from fkp.images import load_photo
from fkp.pipeline import predict_photo
from fkp.tracking import CROP_TOLERANCE, SMOOTHING_BY_MODEL, LiveTracker, crop_shift

FPS = 30.0


@pytest.fixture(scope="module")
def parts():
    from fkp.landmarker import FaceKeypoints
    from fkp.pipeline import default_detector

    return FaceKeypoints("fast"), default_detector()


def noisy_frames(matrices: list[np.ndarray], sigma: float = 4.0, seed: int = 0) -> list[np.ndarray]:
    """examples/grace_hopper.jpg moved by each 2x3 matrix, with its own Gaussian noise per frame (RGB)."""
    photo = load_photo(ROOT / "examples" / "grace_hopper.jpg")
    rng = np.random.default_rng(seed)
    size = (photo.shape[1], photo.shape[0])
    frames = []
    for matrix in matrices:
        frame = cv2.warpAffine(photo, matrix, size, borderMode=cv2.BORDER_REPLICATE)
        frames.append(np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8))
    return frames


def spread(points: list[np.ndarray]) -> float:
    """Each keypoint's spread over frames, sqrt(var x + var y), averaged over keypoints (px)."""
    return float(np.sqrt(np.array(points).var(axis=0).sum(axis=-1)).mean())


def test_crop_shift_is_in_frame_pixels():
    crop = crop_matrix((200.0, 150.0), 180.0)
    assert crop_shift(crop, crop) == pytest.approx(0.0, abs=1e-9)
    moved = crop.copy()
    moved[0, 2] += 1.0  # one frame pixel to the right
    assert crop_shift(crop, moved) == pytest.approx(1.0)
    assert CROP_TOLERANCE < 1.0


def test_a_still_face_keeps_its_crop_and_jitters_less_than_independent_photos(parts):
    predictor, detector = parts
    frames = noisy_frames([np.float32([[1, 0, 0], [0, 1, 0]])] * 24)
    tracker = LiveTracker(predictor, detector)
    tracked, crops = [], []
    for index, frame in enumerate(frames):
        faces = tracker.update(frame, index / FPS)
        assert len(faces) == 1 and faces[0].track == 0
        tracked.append(faces[0].keypoints)
        crops.append(tracker.tracks[0].crop.copy())
    assert all(np.array_equal(crop, crops[0]) for crop in crops)  # noise does not move the crop
    own = SMOOTHING_BY_MODEL["fast"]
    assert tracker.smoothing == own and tracker.tracks[0].smoother.beta == own["beta"]
    independent = [predict_photo(predictor, frame, detector)[0].keypoints for frame in frames]
    # measured on 60 frames (benchmarks/video.py): 0.29x; a short clip leaves room for chance
    assert spread(tracked) < 0.6 * spread(independent)


def test_a_moving_face_is_followed_by_its_crop_without_lag(parts):
    predictor, detector = parts
    still = [np.float32([[1, 0, 0], [0, 1, 0]])] * 4
    moving = [np.float32([[1, 0, 3.0 * step], [0, 1, 1.5 * step]]) for step in range(1, 21)]  # 100 px/s
    frames = noisy_frames(still + moving)
    tracker = LiveTracker(predictor, detector)
    points, crops = [], []
    for index, frame in enumerate(frames):
        faces = tracker.update(frame, index / FPS)
        assert len(faces) == 1
        points.append(faces[0].keypoints)
        crops.append(tracker.tracks[0].crop.copy())
    reference = np.mean(points[:4], axis=0)
    errors = [
        np.linalg.norm(p - apply_affine(m.astype(np.float64), reference), axis=1).mean()
        for p, m in zip(points[4:], moving)
    ]
    assert max(errors) < 2.5, errors  # a few px a frame: the smoothed points keep up
    # the crop moved with the face: it puts the average face where the face now is
    assert crop_shift(crops[-1], crops[3]) > 20 * 3.0 * 96 / 228 * 0.8
    mean_face = apply_affine(cv2.invertAffineTransform(crops[-1]), MEAN_FRAME_KEYPOINTS).mean(axis=0)
    assert np.linalg.norm(mean_face - points[-1].mean(axis=0)) < 5
