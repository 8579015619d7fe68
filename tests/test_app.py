import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURES, ROOT

from fkp.keypoints import KEYPOINT_INDEX, KEYPOINT_NAMES
from fkp.photo import NotAnImageError, load_photo

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def app():
    from fkp import demo as demo_app

    return demo_app


def test_two_faces_each_get_their_own_results(app):
    status, (annotated, annotations), combined, gallery, table, files, state = app.analyse(str(EXAMPLES / "two_faces.jpg"))
    assert "2 faces found" in status
    assert annotated.shape == combined.shape == (512, 949, 3)
    assert len(annotations) == 30 and {label for _, label in annotations} == set(KEYPOINT_NAMES)
    assert len(gallery) == 30 and gallery[0][1].startswith("face 1 · left_eye_center")
    assert list(table.columns) == ["face", "keypoint", "x", "y", "confidence"] and len(table) == 30
    for number, face in enumerate(state["faces"], start=1):
        box = face.box
        points = table[table.face == number][["x", "y"]].to_numpy()
        assert np.allclose(points, face.keypoints, atol=0.01)  # table holds photo coordinates
        inside = (points[:, 0] > box.x - 0.1 * box.width) & (points[:, 0] < box.x + 1.1 * box.width) & (points[:, 1] > box.y) & (points[:, 1] < box.y + 1.2 * box.height)
        assert inside.all()
        left, right = points[KEYPOINT_INDEX["left_eye_center"]], points[KEYPOINT_INDEX["right_eye_center"]]
        nose, lip = points[KEYPOINT_INDEX["nose_tip"]], points[KEYPOINT_INDEX["mouth_center_bottom_lip"]]
        assert left[0] > right[0] and nose[1] > left[1] and lip[1] > nose[1]  # a face, the right way up
    payload = json.loads(Path(files[0]).read_text())
    assert payload["model"] == "fkp shipped weights"  # never a server path
    assert payload["width"] == 949 and len(payload["faces"]) == 2 and set(payload["faces"][0]["keypoints"]) == set(KEYPOINT_NAMES)
    assert Path(files[1]).read_text().splitlines()[0] == "face,keypoint,x,y,confidence"
    # the opacity control re-renders the combined overlay from the stored results
    assert not np.array_equal(app.overlay(state, 0.0), app.overlay(state, 1.0))
    assert np.array_equal(app.overlay(state, 0.0), annotated * 0 + app.overlay(state, 0.0))


def test_no_face_says_so_and_whole_image_mode_works(app):
    status, annotated, *_ = app.analyse(str(EXAMPLES / "no_face_cat.jpg"))
    assert "No face found" in status and "whole image" in status and annotated is None
    frame = Image.fromarray(np.asarray(Image.open(EXAMPLES / "grace_hopper.jpg").convert("L"))[130:330, 150:370])
    path = Path(app.tempfile.mkdtemp()) / "crop.png"
    frame.save(path)
    status, (annotated, _), *_ = app.analyse(str(path), whole_image=True)
    assert "image treated as one face" in status


def test_not_an_image_gives_a_clear_message(app, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is text, not a photo")
    with pytest.raises(NotAnImageError, match="notes.jpg is not an image"):
        load_photo(bad)
    import gradio as gr

    with pytest.raises(gr.Error, match="notes.jpg is not an image that can be read: its contents are not a known image format") as raised:
        app.analyse(str(bad))
    assert str(tmp_path) not in str(raised.value) and "Error" not in str(raised.value)  # no server path, no exception class


def test_common_image_formats(tmp_path):
    rgb = np.asarray(Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB"))
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(rgb).save(tmp_path / "photo.webp")
    Image.fromarray((np.asarray(Image.fromarray(rgb).convert("L")).astype(np.uint16) * 257)).save(tmp_path / "deep.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.gif")
    for name in ("rgba.png", "gray.png", "photo.webp", "deep.png", "palette.gif"):
        photo = load_photo(tmp_path / name)
        assert photo.shape == rgb.shape and photo.dtype == np.uint8, name
        assert np.abs(photo.astype(int).mean() - rgb.mean()) < 12, name  # same picture, not scaled to black/white
    upright = load_photo(EXAMPLES / "hopper_exif_rotated.jpg")  # stored sideways, EXIF says rotate
    assert upright.shape == rgb.shape and np.abs(upright.astype(int) - rgb).mean() < 8


def test_very_large_photo_keeps_original_coordinates(app, tmp_path):
    import cv2

    from fkp.api import FaceKeypoints
    from fkp.photo import predict_photo

    small = load_photo(EXAMPLES / "grace_hopper.jpg")
    big = cv2.resize(small, None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)  # 4096x4800
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=85)
    status, (annotated, _), *_rest, state = app.analyse(str(tmp_path / "big.jpg"))
    assert "1 face found" in status and max(annotated.shape[:2]) <= 1280
    from fkp.detect import HAAR_FRAMING, Box, box_crop

    class FixedBox:  # the same face box at both scales, so only the coordinate mapping is compared
        def __init__(self, box):
            self.box = box

        def detect(self, photo):
            return [self.box]

        def crop(self, box):
            return box_crop(HAAR_FRAMING, box)

    predictor = FaceKeypoints()
    box = Box(149.0, 102.0, 229.0, 229.0)
    on_small = predict_photo(predictor, small, FixedBox(box))[0].keypoints
    on_big = predict_photo(predictor, big, FixedBox(Box(box.x * 8 + 3.5, box.y * 8 + 3.5, box.width * 8, box.height * 8)))[0].keypoints
    # pixel centres: x_big = 8 * x_small + 3.5; the two crops differ by resampling only, so allow
    # one small-photo pixel (measured: 0.57)
    assert np.median(np.linalg.norm(on_big - (on_small * 8 + 3.5), axis=1)) < 8.0


def test_photo_pipeline_evaluation_reports_misses(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fkp.evaluate", "--pipeline", "photo", "--data", str(FIXTURES / "ytf68"), "--json"],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    metrics = json.loads(result.stdout)
    assert metrics["n_photos"] == 8 and metrics["n_images"] + metrics["n_missed"] == 8 and metrics["units"] == "photo pixels"
    assert 0 <= metrics["missed_share"] < 0.5 and metrics["nme"] < 0.15


@pytest.fixture(scope="module")
def server(app):
    app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True)
    yield app.demo.local_url
    app.demo.close()


def test_api_cannot_make_the_server_read_its_own_files(server, tmp_path, monkeypatch):
    """The exact payload of the reported hole: a path with no upload behind it. The file exists and
    is a real image, yet it is never opened, and the error names neither the path nor its existence."""
    import httpx

    from fkp import demo

    secret = tmp_path / "server_only.png"
    secret.write_bytes((EXAMPLES / "grace_hopper.jpg").read_bytes())
    opened = []
    monkeypatch.setattr(demo, "load_photo", lambda source, _real=demo.load_photo: opened.append(str(source)) or _real(source))
    answers = []
    for path in (str(secret), "/no/such/file.png", str(EXAMPLES / ".." / "README.md")):
        posted = httpx.post(f"{server}gradio_api/call/predict", json={"data": [{"path": path}, True, 0.6, False]}, timeout=60)
        event_id = posted.json()["event_id"]
        answers.append(httpx.get(f"{server}gradio_api/call/predict/{event_id}", timeout=60).text)
    assert opened == []
    for answer in answers:
        assert "event: error" in answer and "did not arrive as an upload" in answer
        assert "server_only" not in answer and "/no/such" not in answer and "README" not in answer


def test_gradio_client_named_endpoint(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    status, annotated, combined, gallery, table, files = client.predict(handle_file(str(EXAMPLES / "grace_hopper.jpg")), False, 0.6, False, api_name="/predict")
    assert "1 face found" in status
    assert len(gallery) == 15 and len(table["data"]) == 15
    assert Path(annotated["image"]["path"] if isinstance(annotated["image"], dict) else annotated["image"]).exists()
    assert {Path(f).suffix for f in files} == {".json", ".csv"}
    status, *_ = client.predict(handle_file(str(EXAMPLES / "no_face_cat.jpg")), False, 0.6, False, api_name="/predict")
    assert "No face found" in status
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(Exception, match="not an image"):
        client.predict(handle_file(str(bad)), False, 0.6, False, api_name="/predict")
    # the server survived the bad upload
    assert "1 face found" in client.predict(handle_file(str(EXAMPLES / "eileen_collins.jpg")), False, 0.6, False, api_name="/predict")[0]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="Debian chromium not installed (.ci/run installs it)")
def test_browser_upload_shows_keypoints_and_heatmaps(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
        page = browser.new_page()
        page.goto(server)
        page.locator("#photo input[type=file]").set_input_files(str(EXAMPLES / "grace_hopper.jpg"))
        page.wait_for_function("document.querySelectorAll('#heatmaps img').length >= 15", timeout=90_000)
        page.locator("#annotated img").first.wait_for(state="visible", timeout=30_000)
        assert "1 face found" in page.locator("#status").inner_text()
        assert page.locator("#heatmaps img").count() >= 15
        page.screenshot(path=str(Path(os.environ.get("FKP_SCREENSHOT", "/tmp/fkp_demo.png"))), full_page=True)
        browser.close()


def test_flip_option_applies_to_that_request_only(app):
    plain = app.analyse(str(EXAMPLES / "grace_hopper.jpg"))[-1]["faces"][0].keypoints
    flipped = app.analyse(str(EXAMPLES / "grace_hopper.jpg"), flip_test=True)[-1]["faces"][0].keypoints
    assert not np.allclose(plain, flipped) and np.abs(plain - flipped).max() < 10
    assert app.PREDICTOR.flip_test is False  # the shared predictor is not changed by a request
