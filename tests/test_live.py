"""Live webcam tracking (fkp.tracking) and the demo's stream handler."""

import cv2
import numpy as np
import pytest
from conftest import ROOT

from fkp.images import load_photo
from fkp.tracking import LiveTracker, OneEuroFilter

EXAMPLES = ROOT / "examples"


def test_one_euro_filter_removes_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    smoother = OneEuroFilter()
    still = np.array([[100.0, 50.0]])
    raw = [still + rng.normal(0, 1.0, still.shape) for _ in range(60)]
    smoothed = [smoother(value, index / 15, unit=100.0) for index, value in enumerate(raw)]
    assert np.std(np.array(smoothed[20:])[:, 0, 0]) < 0.5 * np.std(
        np.array(raw[20:])[:, 0, 0]
    )  # at rest: jitter halved
    for index in range(60, 75):  # then the face moves fast, 30 px a frame: the filter keeps up
        moved = smoother(still + [[30.0 * (index - 59), 0.0]], index / 15, unit=100.0)
    assert abs(moved[0, 0] - (100 + 30 * 15)) < 30  # lags by less than one frame's motion


def drifting_frames(count: int) -> list[np.ndarray]:
    photo = load_photo(EXAMPLES / "grace_hopper.jpg")
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 115:525] = cv2.resize(photo, (410, 480), interpolation=cv2.INTER_AREA)
    return [cv2.warpAffine(frame, np.float32([[1, 0, 2.0 * index], [0, 1, 0]]), (640, 480)) for index in range(count)]


@pytest.fixture(scope="module")
def parts():
    from fkp.landmarker import FaceKeypoints
    from fkp.pipeline import default_detector

    return FaceKeypoints(), default_detector()


def test_tracker_follows_a_moving_face_with_few_detections(parts):
    predictor, detector = parts
    calls = []
    real_detect = detector.detect

    class CountingDetector:
        def __getattr__(self, name):
            return getattr(detector, name)

        def detect(self, photo):
            calls.append(1)
            return real_detect(photo)

    tracker = LiveTracker(predictor, CountingDetector(), redetect_every=15)
    frames = drifting_frames(30)
    centres = []
    for index, frame in enumerate(frames):
        faces = tracker.update(frame, timestamp=index / 15)
        assert len(faces) == 1 and faces[0].looks_like_a_face
        centres.append(faces[0].keypoints.mean(axis=0))
    assert len(calls) <= 3  # the first frame, then every 15 frames: tracking, not detection, does the rest
    shift = np.array(centres)[:, 0] - centres[0][0]
    assert abs(shift[-1] - 2.0 * 29) < 4  # the points moved with the face (58 px)
    assert np.all(np.diff(shift[5:]) > 0)  # steadily, no jumps back


def test_tracker_drops_a_face_that_leaves_and_finds_it_again(parts):
    predictor, detector = parts
    tracker = LiveTracker(predictor, detector)
    face = drifting_frames(1)[0]
    assert len(tracker.update(face, 0.0)) == 1
    assert tracker.update(np.full_like(face, 90), 0.1) == []  # an empty scene: the track is dropped
    assert len(tracker.update(face, 0.2)) == 1  # and the face is detected again


def test_stream_handler_returns_annotated_frames():
    """The stream event gets the browser's raw payload: frames as inline PNG/JPEG data URLs."""
    import base64
    import io

    from PIL import Image

    from fkp.demo import handlers

    tracker = None
    for frame in drifting_frames(3):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG")
        payload = {"url": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), "path": None}
        annotated, status, tracker = handlers.live_frame(payload, tracker)
        assert annotated.shape == frame.shape and not np.array_equal(annotated, frame)  # points drawn
        assert status.startswith("1 face ·") and "ms a frame" in status
    skipped, status, same = handlers.live_frame(None, tracker)
    assert skipped == handlers.gr.skip() and status == "" and same is tracker
