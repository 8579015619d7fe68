"""Face detection on real fixture faces: BlazeFace against its conversion, turned faces mapped back
through the rotated crop, small faces, panoramas and very large canvases within a bounded window
budget, the default detector's passes, and the face score (from the detection, or one look of the
crop classifier where no detector found the crop)."""

import numpy as np
import pytest
from conftest import FIXTURES

LABEL_X_SHIFT = -1.3  # the ytf68 label correction (benchmarks/label_offset.py)


@pytest.fixture(scope="module")
def faces():
    """(photo, landmarks) of the real fixture photos, labels corrected."""
    from fkp.data import read_ytf68_photos

    return [
        (photo, landmarks)
        for _, _, photo, landmarks in read_ytf68_photos(FIXTURES / "ytf68", label_x_shift=LABEL_X_SHIFT)
    ]


@pytest.fixture(scope="module")
def detector():
    from fkp.detect import BlazeFaceDetector

    return BlazeFaceDetector()


@pytest.fixture(scope="module", params=["blazeface", "blazeface_full"])
def any_detector(request):
    """Each BlazeFace detector: the short-range one (windows at several scales) and the full-range one."""
    from fkp.detect import create_detector

    return create_detector(request.param)


@pytest.fixture(scope="module")
def predictor():
    from fkp import FaceKeypoints

    return FaceKeypoints()


def nme(predicted: np.ndarray, landmarks: np.ndarray) -> float:
    from fkp.keypoints import ibug68_to_kaggle
    from fkp.metrics import keypoint_metrics

    return keypoint_metrics(predicted[None], ibug68_to_kaggle(landmarks)[None])["nme"]


def test_blazeface_weights_load_strictly_and_decode_anchors():
    import torch

    from fkp.detect.blazeface_net import ANCHORS, load_blazeface

    net = load_blazeface()
    scores, regressors = net(torch.zeros(2, 3, 128, 128))
    assert scores.shape == (2, 896) and regressors.shape == (2, 896, 16) and ANCHORS.shape == (896, 2)
    assert ANCHORS.min() > 0 and ANCHORS.max() < 1


def test_upright_fixture_faces_found_with_their_eyes_level(faces, any_detector):
    from fkp.detect import match_face
    from fkp.geometry import upright_angle

    for photo, landmarks in faces:
        boxes = any_detector.detect(photo)
        index = match_face(boxes, landmarks)
        assert index is not None
        box = boxes[index]
        eyes = landmarks[36:42].mean(0), landmarks[42:48].mean(0)  # subject's right eye, left eye
        assert np.linalg.norm(box.landmarks[0] - eyes[0]) < 0.4 * np.linalg.norm(
            eyes[1] - eyes[0]
        )  # coarse, but this eye, not the other
        assert abs(box.angle - upright_angle(*eyes)) < 15  # the face's own roll (one fixture face: -15 degrees)


@pytest.mark.parametrize("angle", [30, -35])
def test_turned_face_found_and_keypoints_mapped_back(faces, any_detector, predictor, angle):
    """A real face turned in-plane: found, cropped upright, and its keypoints land back on the
    turned labels as well as on the upright photo."""
    from fkp.detect import match_face
    from fkp.geometry import apply_affine, rotate_photo, upright_angle
    from fkp.pipeline import predict_photo

    detector = any_detector
    for photo, landmarks in faces[:4]:
        upright = predict_photo(predictor, photo, detector)
        upright_error = nme(upright[match_face([f.box for f in upright], landmarks)].keypoints, landmarks)
        image, matrix = rotate_photo(photo, angle)
        moved = apply_affine(matrix, landmarks)
        found = predict_photo(predictor, image, detector)
        index = match_face([f.box for f in found], moved)
        assert index is not None, f"face turned {angle} degrees not found"
        true_angle = upright_angle(moved[36:42].mean(0), moved[42:48].mean(0))  # the face's own roll, turned
        # the crop turns by the face's roll; the full-range model's eyes are coarser (a 40-px face in its
        # 192-px input): 17 degrees off on one fixture face turned -35, whose keypoints still pass below
        assert abs(found[index].box.angle - true_angle) < (10 if detector.name == "blazeface" else 20)
        assert nme(found[index].keypoints, moved) < max(0.08, 1.5 * upright_error)


def paste(
    photo: np.ndarray,
    landmarks: np.ndarray,
    canvas_shape: tuple[int, int],
    top_left: tuple[int, int],
    height: int,
    canvas: np.ndarray | None = None,
):
    """The photo resized to ``height`` rows at ``top_left`` of a grey canvas (or of ``canvas``), and its
    landmarks moved with it."""
    import cv2

    scale = height / photo.shape[0]
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    canvas = np.full((*canvas_shape, 3), 128, np.uint8) if canvas is None else canvas
    x0, y0 = top_left
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas, (landmarks + 0.5) * scale - 0.5 + [x0, y0]


@pytest.mark.parametrize(
    "canvas_shape,top_left,height", [((300, 8000), (5300, 0), 300), ((12000, 12000), (5800, 5700), 600)]
)
def test_small_face_in_panorama_or_huge_canvas_is_found(faces, any_detector, predictor, canvas_shape, top_left, height):
    from fkp.detect import match_face
    from fkp.pipeline import predict_photo

    detector = any_detector
    photo, landmarks = faces[0]
    canvas, moved = paste(photo, landmarks, canvas_shape, top_left, height)
    assert len(detector.windows(*canvas.shape[:2])) <= detector.max_windows
    found = predict_photo(predictor, canvas, detector)
    index = match_face([f.box for f in found], moved)
    assert index is not None
    assert nme(found[index].keypoints, moved) < 0.1


def test_small_face_is_found(faces, any_detector, predictor):
    """A face whose crop is about 70 px (just above `min_face`) in a 640x480 photo."""
    from fkp.detect import match_face
    from fkp.framing import landmark_crop
    from fkp.pipeline import predict_photo

    photo, landmarks = faces[2]
    height = round(photo.shape[0] * 70 / landmark_crop(landmarks)[1])
    canvas, moved = paste(photo, landmarks, (480, 640), (400, 150), height)
    found = predict_photo(predictor, canvas, any_detector)
    index = match_face([f.box for f in found], moved)
    assert index is not None and len(found) == 1
    assert nme(found[index].keypoints, moved) < 0.12


def test_default_detector_finds_a_small_face_beside_a_large_one(faces, predictor):
    """All scales run even once a face is found (an early stop at the first scale with a face would
    miss the small one: benchmarks/blazeface_full.py, set "mixed")."""
    from fkp.detect import match_face
    from fkp.framing import landmark_crop
    from fkp.pipeline import predict_photo

    (big_photo, big_marks), (small_photo, small_marks) = faces[2], faces[3]
    canvas, big = paste(big_photo, big_marks, (720, 1280), (40, 60), 600)
    height = round(small_photo.shape[0] * 70 / landmark_crop(small_marks)[1])
    canvas, small = paste(small_photo, small_marks, (720, 1280), (1100, 500), height, canvas)
    boxes = [face.box for face in predict_photo(predictor, canvas)]
    assert len(boxes) == 2 and {match_face(boxes, big), match_face(boxes, small)} == {0, 1}


def test_default_detector_runs_one_or_two_passes_on_ordinary_photos():
    from fkp.pipeline import default_detector

    detector = default_detector()
    assert len(detector.windows(320, 320)) == 1 and len(detector.windows(400, 400)) == 1
    assert len(detector.windows(300, 400)) == 1 and len(detector.windows(600, 512)) <= 2


def test_window_budget_drops_the_smallest_scales_first(detector):
    small = detector.windows(600, 512)
    huge = detector.windows(12000, 12000)
    assert len(huge) <= detector.max_windows and len(small) <= detector.max_windows
    assert max(w[2] for w in huge) == 12000 and min(w[2] for w in huge) >= 12000 / 8
    assert (
        min(w[2] for w in small) <= detector.min_face / detector.FACE_SHARE
    )  # a min_face face fills FACE_SHARE of some window
    # every pixel of the photo lies in some window of each kept scale
    for side in {w[2] for w in small}:
        level = [w for w in small if w[2] == side]
        assert min(x for x, _, _ in level) <= 0 and max(x + s for x, _, s in level) >= 512
        assert min(y for _, y, _ in level) <= 0 and max(y + s for _, y, s in level) >= 600


def test_full_range_windows_one_or_two_for_ordinary_photos_and_bounded_otherwise():
    from fkp.detect import create_detector

    detector = create_detector("blazeface_full")
    assert len(detector.windows(400, 400)) == 1 and len(detector.windows(150, 120)) == 1
    assert len(detector.windows(600, 512)) == 2  # the whole photo at two scales
    for shape in [(600, 512), (300, 8000), (1080, 1920), (12000, 12000)]:
        windows = detector.windows(*shape)
        assert len(windows) <= detector.max_windows
        sides = sorted({w[2] for w in windows}, reverse=True)
        assert sides[0] * detector.MAX_SHARE >= min(shape) - 1e-6  # a face as large as the short side
        assert sides[-1] * detector.FACE_SHARE <= detector.min_face or len(windows) > detector.max_windows / 4
        for side in sides:  # every pixel of the photo lies in some window of each kept scale
            level = [w for w in windows if w[2] == side]
            assert min(x for x, _, _ in level) <= 0 and max(x + s for x, _, s in level) >= shape[1]
            assert min(y for _, y, _ in level) <= 0 and max(y + s for _, y, s in level) >= shape[0]


def test_full_range_network_matches_litert_reference():
    """The converted network against LiteRT's outputs on a letterboxed example photo, computed once
    by `python -m fkp.detect.blazeface_full_net convert ... --reference` (LiteRT is not needed here)."""
    import torch

    from fkp.detect.blazeface_full_net import ANCHORS, decode, load_blazeface_full, weighted_nms

    reference = np.load(FIXTURES / "blazeface_full_litert.npz")
    net = load_blazeface_full()
    images = torch.from_numpy(reference["image"]).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    with torch.inference_mode():
        scores, regressors = net(images)
    assert scores.shape == (1, 2304) and regressors.shape == (1, 2304, 16) and ANCHORS.shape == (2304, 2)
    np.testing.assert_allclose(scores[0].numpy(), reference["scores"], atol=2e-3)
    np.testing.assert_allclose(regressors[0, reference["anchors"]].numpy(), reference["regressors"], atol=2e-2)
    (face,) = weighted_nms(decode(scores, regressors)[0])  # Grace Hopper, alone in the photo
    assert 0.25 < face[1] < face[3] < 0.75 and 0.1 < face[2] < face[4] < 0.9 and face[0] > 0.6
    litert = torch.zeros(1, 2304, 16)  # the faces above 0.5 are among the stored best-scoring anchors
    litert[0, reference["anchors"]] = torch.from_numpy(reference["regressors"])
    (expected,) = weighted_nms(decode(torch.from_numpy(reference["scores"])[None], litert)[0])
    np.testing.assert_allclose(face, expected, atol=1e-3)


def test_full_range_finds_the_example_faces_the_short_range_one_finds():
    from conftest import ROOT

    from fkp.detect import create_detector
    from fkp.images import load_photo

    short, full = create_detector("blazeface"), create_detector("blazeface_full")
    for path in sorted((ROOT / "examples").glob("*.jpg")):
        photo = load_photo(path)
        expected, found = short.detect(photo), full.detect(photo)
        assert len(found) == len(expected), path.name
        for box in expected:  # each face the short-range model finds, found at the same place
            assert any(other.contains(box.center) and box.contains(other.center) for other in found), path.name
            match = min(found, key=lambda other: np.linalg.norm(other.center - box.center))
            assert np.linalg.norm(match.landmarks[:4] - box.landmarks[:4], axis=1).max() < 0.15 * box.side


def test_face_score_separates_a_face_crop_from_non_face_crops(faces, predictor):
    import cv2

    from fkp.data import ytf68_frame
    from fkp.framing import landmark_crop
    from fkp.geometry import crop_matrix, warp
    from fkp.pipeline import FACE_SCORE_THRESHOLD, face_scores

    photo, landmarks = faces[0]
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    face = ytf68_frame(gray, landmarks)[0]
    centre, side = landmark_crop(landmarks)
    corner = warp(gray, crop_matrix(centre + [side, side], side))  # the same photo, away from the face
    noise = np.random.default_rng(0).integers(0, 256, (96, 96)).astype(np.uint8)
    frames = np.stack([face, corner, noise])
    _, confidence, _ = predictor.predict_frames(frames)
    score = face_scores(frames, confidence)
    assert score[0] >= FACE_SCORE_THRESHOLD > max(score[1], score[2])


def test_face_score_comes_from_the_detection_without_a_second_pass(predictor, monkeypatch):
    """A detected face's score is the geometric mean of its mean heatmap peak and the detector's own
    probability for its box: no face classifier runs on the crop."""
    from conftest import ROOT

    from fkp import pipeline
    from fkp.images import load_photo

    def second_pass(frames):
        raise AssertionError("a second detector pass on the crop")

    detector = pipeline.default_detector()
    monkeypatch.setattr(detector, "frame_scores", second_pass)
    monkeypatch.setattr(pipeline, "crop_classifier", second_pass)
    (face,) = pipeline.predict_photo(predictor, load_photo(ROOT / "examples" / "grace_hopper.jpg"), detector)
    assert face.face_score == pytest.approx(np.sqrt(face.confidence.mean() * face.box.score), abs=1e-6)
    assert face.looks_like_a_face and face.box.score > 0.8


def test_crops_no_detector_found_get_the_crop_classifier(predictor):
    """Whole-image crops (no box) and boxes without a probability (Haar) are scored by one look of the
    crop classifier, `CROP_CLASSIFIER`."""
    from conftest import ROOT

    from fkp.detect import create_detector
    from fkp.images import load_photo
    from fkp.pipeline import crop_classifier, predict_photo

    photo = load_photo(ROOT / "examples" / "grace_hopper.jpg")
    for face in [
        *predict_photo(predictor, photo, whole_image=True),
        *predict_photo(predictor, photo, create_detector("haar")),
    ]:
        probability = crop_classifier().frame_scores(face.frame[None])[0]
        assert face.face_score == pytest.approx(np.sqrt(face.confidence.mean() * probability), abs=1e-5)
        assert face.looks_like_a_face


def test_example_photos_get_their_faces_and_no_false_one(predictor):
    """Through `FaceKeypoints.detect` with the default detector: every face of the examples, none on
    the cat (nor on the flag behind Eileen Collins)."""
    from conftest import ROOT

    expected = {"eileen_collins.jpg": 1, "grace_hopper.jpg": 1, "hopper_exif_rotated.jpg": 1, "no_face_cat.jpg": 0}
    expected |= {"ten_faces.jpg": 10, "two_faces.jpg": 2}
    for name, count in expected.items():
        faces = predictor.detect(ROOT / "examples" / name)
        assert len(faces) == count, name
        assert all(face.looks_like_a_face for face in faces)


def test_cat_treated_as_one_face_gets_a_low_face_score(predictor):
    from conftest import ROOT

    from fkp.images import load_photo
    from fkp.pipeline import predict_photo

    (face,) = predict_photo(predictor, load_photo(ROOT / "examples" / "no_face_cat.jpg"), whole_image=True)
    assert not face.looks_like_a_face and face.as_dict()["face_score"] == pytest.approx(face.face_score, abs=1e-4)
    (person,) = predict_photo(predictor, load_photo(ROOT / "examples" / "grace_hopper.jpg"))
    assert person.looks_like_a_face


@pytest.mark.parametrize("name", ["blazeface", "blazeface_full", "haar"])
def test_every_detector_calibrates_its_crop(name, capsys):
    """`fkp calibrate detector` works for each registered detector (each fits its own crop)."""
    from fkp.data.detector_framing import main
    from fkp.detect import DETECTORS

    assert name in DETECTORS
    main(["--detector", name, "--data", str(FIXTURES / "ytf68"), "--label-x-shift", "-1.3"])
    report = capsys.readouterr().out
    assert "faces found" in report and "fitted" in report and "in use" in report and "crop centre error" in report
