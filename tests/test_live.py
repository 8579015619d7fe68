"""Live webcam tracking (fkp.tracking) and the demo's stream handler."""

import cv2
import numpy as np
import pytest
from conftest import ROOT

from fkp.geometry import apply_affine
from fkp.images import load_photo
from fkp.tracking import LiveTracker, OneEuroFilter, rigid_motion

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


def test_rigid_motion_keeps_a_whole_face_motion_and_averages_out_each_points_noise():
    rng = np.random.default_rng(1)
    points = rng.uniform(100, 200, (15, 2))
    # shift, turn and zoom together: rigid_motion returns exactly the points' movement
    turn_and_zoom = cv2.getRotationMatrix2D((150.0, 150.0), 3.0, 1.05) + [[0, 0, 4.0], [0, 0, -2.0]]
    moved = apply_affine(turn_and_zoom, points)
    assert np.allclose(rigid_motion(points, moved - points), moved - points)
    # independent noise per point: what is left is the small part one motion of all points explains
    noise = rng.normal(0, 1.0, (2000, 15, 2))
    kept = np.array([rigid_motion(points, velocity) for velocity in noise])
    assert np.sqrt((kept**2).mean()) < 0.6 * np.sqrt((noise**2).mean())  # 4 of 30 degrees of freedom: ~0.37


def test_a_rigid_speed_filter_smooths_a_still_face_more_and_still_follows_it():
    rng = np.random.default_rng(0)
    still = rng.uniform(100, 200, (15, 2))
    raw = [still + rng.normal(0, 1.0, still.shape) for _ in range(60)]
    settings = dict(min_cutoff=0.25, beta=30.0, derivative_cutoff=1.0)
    spreads = {}
    for rigid in (0.0, 1.0):
        smoother = OneEuroFilter(**settings, rigid_speed=rigid)
        smoothed = np.array([smoother(value, index / 30, unit=100.0) for index, value in enumerate(raw)])
        spreads[rigid] = smoothed[20:].std(axis=0).mean()
        for index in range(60, 75):  # then the whole face moves 10 px a frame
            moved = smoother(still + [10.0 * (index - 59), 0.0], index / 30, unit=100.0)
        assert abs(moved[:, 0] - (still[:, 0] + 150)).max() < 20  # lags by under two frames' motion
    assert spreads[1.0] < 0.8 * spreads[0.0]


def test_rigid_motion_of_too_few_points_is_their_mean_shift():
    velocity = np.array([[2.0, 1.0], [4.0, 3.0], [np.nan, np.nan]])
    same_place = np.array([[5.0, 5.0], [5.0, 5.0], [np.nan, np.nan]])
    assert np.allclose(rigid_motion(same_place, velocity)[:2], [[3.0, 2.0]] * 2)
    assert np.isnan(rigid_motion(same_place, velocity)[2]).all()
    assert np.allclose(rigid_motion(np.array([[1.0, 2.0]]), np.array([[3.0, 0.0]])), [[3.0, 0.0]])


def test_trend_takes_away_the_lag_behind_a_steady_motion_and_carries_no_noise_at_rest():
    """The accurate model's settings with and without trend, on a face (0.5 px noise per point) that
    is still for 2 s, then moves 1 px a frame."""
    from fkp.framing import MEAN_FRAME_KEYPOINTS
    from fkp.tracking import SMOOTHING_BY_MODEL

    face = (np.asarray(MEAN_FRAME_KEYPOINTS, np.float64) - 48) * 2 + 300
    noise = np.random.default_rng(3).normal(0, 0.5, (120, *face.shape))
    lags, spreads = {}, {}
    for trend in (0.0, 1.0):
        smoother = OneEuroFilter(**{**SMOOTHING_BY_MODEL["accurate"], "trend": trend})
        at_rest = [smoother(face + noise[index], index / 30, unit=226.0) for index in range(60)]
        spreads[trend] = np.array(at_rest[20:]).std(axis=0).mean()
        behind = []
        for index in range(60, 120):
            target = face + [index - 59.0, 0.0]
            out = smoother(target + noise[index], index / 30, unit=226.0)
            behind.append((target - out)[:, 0].mean())
        lags[trend] = np.mean(behind[30:])  # once the filter has the speed
    assert lags[0.0] > 0.3 and abs(lags[1.0]) < 0.2 * lags[0.0]  # measured 0.38 px and 0.02 px
    assert spreads[1.0] < 1.15 * spreads[0.0] and spreads[1.0] < 0.25  # 0.164 and 0.176 px of 0.5 px noise
    # a face held perfectly still: the trend has no share at all (nothing opened the filter)
    outputs = {}
    for trend in (0.0, 1.0):
        smoother = OneEuroFilter(**{**SMOOTHING_BY_MODEL["accurate"], "trend": trend})
        outputs[trend] = [smoother(face + noise[0], index / 30, unit=226.0) for index in range(20)]
    assert np.array_equal(outputs[0.0], outputs[1.0])


@pytest.mark.parametrize("settings", [{"min_cutoff": 0.0}, {"derivative_cutoff": 0.0}, {"beta": -1.0}])
def test_one_euro_settings_that_would_divide_by_zero_are_refused(settings):
    with pytest.raises(ValueError, match="min_cutoff > 0"):
        OneEuroFilter(**settings)


def test_each_shipped_model_has_its_trackers_settings_and_other_models_smoothing():
    from fkp.shipped import SHIPPED_MODELS
    from fkp.tracking import SMOOTHING, SMOOTHING_BY_MODEL, smoothing_for

    assert smoothing_for(SHIPPED_MODELS["accurate"]) == SMOOTHING_BY_MODEL["accurate"] != SMOOTHING
    smoothing_for(SHIPPED_MODELS["accurate"])["trend"] = 0.0  # a copy: the table stays as it is
    assert SMOOTHING_BY_MODEL["accurate"]["trend"] == 1.0
    assert smoothing_for(str(SHIPPED_MODELS["accurate"]) + "/") == SMOOTHING_BY_MODEL["accurate"]
    assert smoothing_for(SHIPPED_MODELS["fast"]) == SMOOTHING_BY_MODEL["fast"] != SMOOTHING
    for other in (None, "someone/some-model", str(ROOT / "tests")):
        assert smoothing_for(other) == SMOOTHING

    class Predictor:  # LiveTracker keeps the predictor; only its source is read here
        source = str(SHIPPED_MODELS["accurate"])

    assert LiveTracker(Predictor(), detector=None).smoothing == SMOOTHING_BY_MODEL["accurate"]
    assert LiveTracker(Predictor(), detector=None, smoothing=SMOOTHING).smoothing == SMOOTHING


@pytest.mark.parametrize("model", ["fast", "accurate"])
def test_the_trackers_filter_follows_an_expression_and_steadies_a_still_face(model):
    """A lip that moves alone (10 px over 3 frames, 0.5 px noise per point) is followed within a few
    frames with each model's settings, whose speed is partly or wholly the whole face's."""
    from fkp.framing import MEAN_FRAME_KEYPOINTS
    from fkp.keypoints import KEYPOINT_INDEX
    from fkp.shipped import SHIPPED_MODELS
    from fkp.tracking import smoothing_for

    settings = smoothing_for(SHIPPED_MODELS[model])
    face = (np.asarray(MEAN_FRAME_KEYPOINTS, np.float64) - 48) * 2 + 300
    lip = KEYPOINT_INDEX["mouth_center_bottom_lip"]
    lags = []
    for seed in range(10):
        smoother, rng = OneEuroFilter(**settings), np.random.default_rng(seed)
        for index in range(70):
            target = face.copy()
            target[lip, 1] += 10.0 * min(max(index - 59, 0), 3) / 3
            out = smoother(target + rng.normal(0, 0.5, face.shape), index / 30, unit=226.0)
            if index == 65:  # 5 frames after the lip started moving, 3 after it reached its place
                lags.append(abs(out[lip, 1] - target[lip, 1]))
    # measured 0.58 px for the fast model (0.21 px with each point's own speed, 1.54 px with the face's
    # alone), 0.36 px for the accurate one (the face's alone, with trend; 0.38 px without)
    assert np.mean(lags) < 1.0


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
    assert tracker.detections == {"needed": 1, "scheduled": len(calls) - 1}  # why each ran
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


def crossing_frames(count: int = 30) -> tuple[list[np.ndarray], list[tuple[float, float]]]:
    """Two faces (Grace Hopper's, Eileen Collins's) sliding past each other on a grey canvas, one left to
    right above, the other right to left below (their patches overlap); with each frame, the two faces'
    centres (x of the upper, x of the lower)."""
    hopper = load_photo(EXAMPLES / "grace_hopper.jpg")[78:393, 107:422]
    collins = load_photo(EXAMPLES / "eileen_collins.jpg")[26:226, 125:325]
    patches = [cv2.resize(face, (200, 200), interpolation=cv2.INTER_AREA) for face in (hopper, collins)]
    frames, centres = [], []
    for index in range(count):
        canvas = np.full((560, 720, 3), 120, np.uint8)
        upper, lower = round(20 + 480 * index / (count - 1)), round(500 - 480 * index / (count - 1))
        canvas[20:220, upper : upper + 200] = patches[0]
        canvas[170:370, lower : lower + 200] = patches[1]
        frames.append(canvas)
        centres.append((upper + 100.0, lower + 100.0))
    return frames, centres


def test_tracker_keeps_the_ids_of_two_faces_that_cross(parts):
    predictor, detector = parts
    tracker = LiveTracker(predictor, detector, redetect_every=5)
    frames, centres = crossing_frames()
    ids: dict[str, set[int]] = {"upper": set(), "lower": set()}
    for index, (frame, (upper_x, lower_x)) in enumerate(zip(frames, centres)):
        faces = tracker.update(frame, timestamp=index / 15)
        assert len(faces) == 2, index
        for face in faces:
            x, y = face.keypoints.mean(axis=0)
            which = "upper" if y < 170 else "lower"
            assert abs(x - (upper_x if which == "upper" else lower_x)) < 40, (index, which, x)
            ids[which].add(face.track)
    assert len(ids["upper"]) == 1 and len(ids["lower"]) == 1 and ids["upper"] != ids["lower"], ids  # kept throughout


def test_a_face_whose_heatmaps_fade_keeps_its_id_when_the_detector_finds_it(parts, monkeypatch):
    from fkp import tracking

    predictor, detector = parts
    monkeypatch.setattr(tracking, "TRACK_PEAK_THRESHOLD", 1.01)  # every tracked face in doubt, every frame
    tracker = LiveTracker(predictor, detector)
    frames = drifting_frames(4)
    ids = [[face.track for face in tracker.update(frame, index / 10)] for index, frame in enumerate(frames)]
    assert ids == [[0], [0], [0], [0]]  # found again by the detection that follows, not a new track each time
    assert tracker.detections == {"needed": 4}  # every frame: the first, then a face in doubt
    assert tracker.update(np.full_like(frames[0], 90), 0.5) == []  # gone: the doubtful track ends


def test_tracker_gives_a_new_face_a_new_id(parts):
    predictor, detector = parts
    tracker = LiveTracker(predictor, detector)
    face = drifting_frames(1)[0]
    first = tracker.update(face, 0.0)[0].track
    assert tracker.update(face, 0.1)[0].track == first
    assert tracker.update(np.full_like(face, 90), 0.2) == []  # lost: dropped
    assert tracker.update(face, 0.3)[0].track == first + 1  # found again: a new id, never a reused one


def test_a_doubtful_track_never_takes_a_face_that_a_kept_track_is_on(monkeypatch):
    """Two faces; track 0's crop has slipped onto face B (its peaks fell), nearer to B's detection than
    track 1, which follows B. B stays with track 1; face A gets a new track; no face is returned twice.
    A doubtful track still near its own face keeps its id."""
    from fkp import tracking
    from fkp.framing import MEAN_FRAME_KEYPOINTS
    from fkp.geometry import apply_affine, crop_matrix, invert_affine
    from fkp.pipeline import FaceResult

    def face(x: float, box: str = "") -> FaceResult:
        matrix = crop_matrix((x, 100.0), 100.0)
        keypoints = apply_affine(invert_affine(matrix), MEAN_FRAME_KEYPOINTS).astype(np.float32)
        return FaceResult(box, matrix, keypoints, np.full(15, 0.9), None, None, None, 0.9)

    found = [face(100.0, "A"), face(200.0, "B")]  # what the detector finds, and its faces re-fitted

    class Detector:
        scores_are_probabilities = True

        def detect(self, frame):
            return ["A", "B"]

        def crop(self, box):
            return None

    monkeypatch.setattr(
        tracking, "predict_crops", lambda *args, **kwargs: [next(f for f in found if f.box == b) for b, _ in args[2]]
    )
    monkeypatch.setattr(tracking, "refined_crop", lambda keypoints: np.eye(2, 3))
    for doubtful_x, expected in ((202.0, {"A": 2, "B": 1}), (103.0, {"A": 0, "B": 1})):
        tracker = LiveTracker(None, Detector())
        tracker.next_id = 2
        kept = [(tracking.Track(face(200.0), id=1), face(204.0))]
        doubtful = [(tracking.Track(face(100.0), id=0), face(doubtful_x))]
        result = tracker._detect(None, None, None, kept, doubtful)
        ids = {"A" if f.keypoints[:, 0].mean() < 150 else "B": track.id for track, f in result}
        assert len(result) == 2 and ids == expected, (doubtful_x, [(t.id, f.keypoints[:, 0].mean()) for t, f in result])
