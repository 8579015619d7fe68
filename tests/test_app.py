import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import CHROMIUM, FIXTURES, ROOT, SCREENSHOTS, VIEWPORTS, browser_args, needs_chromium
from PIL import Image

from fkp.demo import guard, limits, storage
from fkp.demo.results import START_HINT, InputError
from fkp.images import NotAnImageError, load_photo
from fkp.keypoints import KEYPOINT_INDEX, KEYPOINT_NAMES

EXAMPLES = ROOT / "examples"


def test_two_faces_each_get_their_own_results(app):
    status, annotated, views, selector, heatmaps, table, payload, files, state = app.analyse(
        str(EXAMPLES / "two_faces.jpg")
    )
    assert "2 faces found" in status
    assert np.asarray(Image.open(annotated)).shape == (512, 949, 3)  # drawn on the server, once
    assert len(views) == 2 and views[0][1] == f"face 1 · {state['faces'][0].face_score:.2f}"
    assert views[0][0].shape == (288, 288, 3)  # a zoomed, upright view of each face
    assert selector["choices"] == ["1", "2"] and selector["value"] == "1" and selector["visible"] is True
    assert list(table.columns) == ["face", "#", "keypoint", "x", "y", "confidence"] and len(table) == 30
    for number, face in enumerate(state["faces"], start=1):
        box = face.box
        points = table[table.face == number][["x", "y"]].to_numpy()
        assert np.allclose(points, face.keypoints, atol=0.06)  # table holds photo coordinates
        inside = (
            (points[:, 0] > box.x - 0.1 * box.width)
            & (points[:, 0] < box.x + 1.1 * box.width)
            & (points[:, 1] > box.y)
            & (points[:, 1] < box.y + 1.2 * box.height)
        )
        assert inside.all()
        left, right = points[KEYPOINT_INDEX["left_eye_center"]], points[KEYPOINT_INDEX["right_eye_center"]]
        nose, lip = points[KEYPOINT_INDEX["nose_tip"]], points[KEYPOINT_INDEX["mouth_center_bottom_lip"]]
        assert left[0] > right[0] and nose[1] > left[1] and lip[1] > nose[1]  # a face, the right way up
    # the JSON result is in the response itself, and in the downloads with the annotated image and a CSV
    assert payload["model"] == "fast"  # never a server path
    assert (
        payload["width"] == 949
        and len(payload["faces"]) == 2
        and set(payload["faces"][0]["keypoints"]) == set(KEYPOINT_NAMES)
    )
    assert [Path(f).suffix for f in files] == [".jpg", ".json", ".csv"] and Path(
        files[0]
    ).name == "two_faces_keypoints.jpg"
    assert json.loads(Path(files[1]).read_text()) == json.loads(json.dumps(payload))
    assert Path(files[2]).read_text().splitlines()[0] == "face,#,keypoint,x,y,confidence"
    # heatmaps: one face at a time, chosen by the selector; the opacity re-renders from the session state
    assert heatmaps.shape == app.heatmaps(state, "1").shape and np.array_equal(heatmaps, app.heatmaps(state, "1"))
    assert not np.array_equal(app.heatmaps(state, "1"), app.heatmaps(state, "2"))
    assert not np.array_equal(app.heatmaps(state, "1", 0.0), app.heatmaps(state, "1", 1.0))
    assert (
        app.heatmaps(state, "99").shape == heatmaps.shape and app.heatmaps(None, "1") is None
    )  # out of range / expired
    # the page sends raw values (the events skip Gradio's validation): typed 1.5, an emptied box, a stale face
    assert np.array_equal(app.heatmaps(state, "1", "1.5"), app.heatmaps(state, "1", 1.0))
    assert np.array_equal(app.heatmaps(state, "2", ""), app.heatmaps(state, "2", 0.7))
    assert np.array_equal(app.heatmaps(state, "x", None), app.heatmaps(state, "1"))


def test_faces_are_numbered_in_reading_order(app):
    *_, state = app.analyse(str(EXAMPLES / "ten_faces.jpg"))
    centres = np.array([face.box.center for face in state["faces"]])
    rows = [centres[:5], centres[5:]]
    assert all(np.all(np.diff(row[:, 0]) > 0) for row in rows)  # left to right
    assert rows[0][:, 1].max() < rows[1][:, 1].min()  # top row first
    *_, state = app.analyse(str(EXAMPLES / "two_faces.jpg"))  # side by side, at slightly different heights
    assert state["faces"][0].box.center[0] < state["faces"][1].box.center[0]


def test_session_state_keeps_only_what_the_heatmap_view_needs(app):
    *_, state = app.analyse(str(EXAMPLES / "ten_faces.jpg"))
    assert set(state) == {"faces", "size"} and len(state["faces"]) == 10  # no photo in the state, only its size
    sizes = [face.heatmaps.nbytes + face.frame.nbytes for face in state["faces"]]
    assert max(sizes) < 80_000 and state["faces"][0].heatmaps.dtype == np.float16
    assert limits.MAX_FACES * max(sizes) < 2_000_000  # a session holds at most ~2 MB, whatever the photo


def test_no_face_says_so_and_whole_image_mode_works(app, tmp_path):
    status, annotated, views, *_ = app.analyse(str(EXAMPLES / "no_face_cat.jpg"))
    assert "No face found" in status and "whole image" in status and annotated is None and views == []
    frame = Image.fromarray(np.asarray(Image.open(EXAMPLES / "grace_hopper.jpg").convert("L"))[130:330, 150:370])
    path = tmp_path / "crop.png"
    frame.save(path)
    status, annotated, *_ = app.analyse(str(path), whole_image=True)
    assert "image treated as one face" in status


def test_not_an_image_gives_a_clear_message(app, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is text, not a photo")
    with pytest.raises(NotAnImageError, match="notes.jpg is not an image"):
        load_photo(bad)
    with pytest.raises(
        InputError, match="notes.jpg could not be read: its contents are not a known image format"
    ) as raised:
        app.analyse(str(bad))
    assert "Try a JPEG, PNG or WebP photo" in str(raised.value)
    assert str(tmp_path) not in str(raised.value) and "Error" not in str(
        raised.value
    )  # no server path, no exception class


def test_page_clears_old_results_on_error_and_on_clear(app, monkeypatch, tmp_path):
    """A failed upload or a cleared photo must not leave the previous results on screen."""
    monkeypatch.setattr(guard, "received_file", lambda path: Path(path))  # the upload-folder check has its own test
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    status, *results, reveal, panels = app.analyse_on_page({"path": str(bad), "orig_name": "broken.png"})
    assert status.startswith("⚠️ broken.png could not be read") and reveal["visible"] is True
    assert panels["visible"] is False  # the message alone, no empty panels under it
    annotated, views, selector, heatmaps, table, payload, files, state = results
    assert (
        annotated is None
        and views == []
        and heatmaps == []
        and table is None
        and payload is None
        and files is None
        and state is None
    )
    status, *results, reveal, panels = app.analyse_on_page(None)
    assert status == START_HINT and reveal["visible"] is False and results[0] is None
    status, *results, reveal, panels = app.analyse_on_page(
        {"path": str(EXAMPLES / "no_face_cat.jpg"), "orig_name": "cat.jpg"}
    )
    assert "No face found" in status and reveal["visible"] is True and panels["visible"] is False
    status, *results, reveal, panels = app.analyse_on_page(
        {"path": str(EXAMPLES / "grace_hopper.jpg"), "orig_name": "mine.jpg"}
    )
    assert "1 face found" in status and Path(results[-2][0]).name == "mine_keypoints.jpg" and reveal["visible"] is True
    assert panels["visible"] is True and len(results[3]) == 15  # the page's heatmaps: one tile per keypoint


def test_inline_captures_are_decoded_in_memory_and_bounded(app, monkeypatch):
    import base64

    storage.downloads()  # the process's one downloads folder, made on first use
    before = set(Path(tempfile.gettempdir()).glob("fkp-*"))
    encoded = base64.b64encode((EXAMPLES / "grace_hopper.jpg").read_bytes()).decode()
    status, *_ = app.analyse_upload({"url": f"data:image/jpeg;base64,{encoded}"})
    assert "1 face found" in status
    assert set(Path(tempfile.gettempdir()).glob("fkp-*")) == before  # no temporary folder per request
    monkeypatch.setattr(guard, "MAX_INLINE_BYTES", 1000)
    import gradio as gr

    with pytest.raises(gr.Error, match="larger than"):
        app.analyse_upload({"url": f"data:image/jpeg;base64,{encoded}"})
    with pytest.raises(gr.Error, match="could not be read"):
        app.analyse_upload({"url": "data:image/png;base64,@@not base64@@"})


def test_downloads_are_deleted_once_served(app):
    *_, files, _state = app.analyse(str(EXAMPLES / "grace_hopper.jpg"))
    folder = Path(files[0]).parent
    assert folder.parent == storage.downloads()
    storage.prune_downloads(max_age=3600)
    assert folder.exists()  # still young
    storage.prune_downloads(max_age=-1)
    assert not folder.exists() and list(storage.downloads().iterdir()) == []


def test_marker_palette_reads_on_any_skin():
    """No keypoint colour is near white or near black (each is drawn with a dark outline), and the
    colours stay apart."""
    from fkp.keypoints import KEYPOINT_COLORS

    def luminance(rgb):
        c = np.asarray(rgb) / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(c @ [0.2126, 0.7152, 0.0722])

    colours = list(KEYPOINT_COLORS.values())
    assert all(0.05 <= luminance(c) <= 0.75 for c in colours), [round(luminance(c), 2) for c in colours]
    distances = [np.linalg.norm(np.subtract(a, b)) for i, a in enumerate(colours) for b in colours[i + 1 :]]
    assert min(distances) > 40


def test_markers_are_sized_to_the_face(app):
    from fkp.render import draw_faces, marker_radius

    *_, state = app.analyse(str(EXAMPLES / "ten_faces.jpg"))
    photo = load_photo(EXAMPLES / "ten_faces.jpg")
    assert draw_faces(photo, state["faces"]).shape == photo.shape
    sizes = [face.size for face in state["faces"]]
    assert (
        marker_radius(min(sizes)) <= marker_radius(max(sizes)) and marker_radius(20) == 2 and marker_radius(5000) == 9
    )


def test_oversized_photo_is_refused_before_decoding(tmp_path):
    from fkp.images import MAX_PIXELS

    Image.new("1", (13000, 12000)).save(tmp_path / "huge.png")  # 156 megapixels, a small file
    with pytest.raises(
        NotAnImageError, match=f"huge.png is not an image that can be read: it has more than {MAX_PIXELS:,} pixels"
    ):
        load_photo(tmp_path / "huge.png")


def test_common_image_formats(tmp_path):
    rgb = np.asarray(Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB"))
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(rgb).save(tmp_path / "photo.webp")
    Image.fromarray(np.asarray(Image.fromarray(rgb).convert("L")).astype(np.uint16) * 257).save(tmp_path / "deep.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.gif")
    for name in ("rgba.png", "gray.png", "photo.webp", "deep.png", "palette.gif"):
        photo = load_photo(tmp_path / name)
        assert photo.shape == rgb.shape and photo.dtype == np.uint8, name
        assert np.abs(photo.astype(int).mean() - rgb.mean()) < 12, name  # same picture, not scaled to black/white
    upright = load_photo(EXAMPLES / "hopper_exif_rotated.jpg")  # stored sideways, EXIF says rotate
    assert upright.shape == rgb.shape and np.abs(upright.astype(int) - rgb).mean() < 8


def test_very_large_photo_keeps_original_coordinates(app, tmp_path):
    import cv2

    from fkp import FaceKeypoints
    from fkp.pipeline import predict_photo

    small = load_photo(EXAMPLES / "grace_hopper.jpg")
    big = cv2.resize(small, None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)  # 4096x4800
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=85)
    status, annotated, *_rest, state = app.analyse(str(tmp_path / "big.jpg"))
    assert "1 face found" in status and max(Image.open(annotated).size) <= 1280
    from fkp.detect import Box, FaceDetector
    from fkp.detect.haar import HAAR_FRAMING
    from fkp.framing import box_crop

    class FixedBox(FaceDetector):  # the same face box at both scales, so only the coordinate mapping is compared
        def __init__(self, box):
            self.box = box

        def detect(self, photo):
            return [self.box]

        def crop(self, box):
            return box_crop(HAAR_FRAMING, box)

    predictor = FaceKeypoints()
    box = Box(149.0, 102.0, 229.0, 229.0)
    on_small = predict_photo(predictor, small, FixedBox(box))[0].keypoints
    on_big = predict_photo(
        predictor, big, FixedBox(Box(box.x * 8 + 3.5, box.y * 8 + 3.5, box.width * 8, box.height * 8))
    )[0].keypoints
    # pixel centres: x_big = 8 * x_small + 3.5; the two crops differ by resampling only, so allow
    # one small-photo pixel (measured: 0.57)
    assert np.median(np.linalg.norm(on_big - (on_small * 8 + 3.5), axis=1)) < 8.0


def test_photo_pipeline_evaluation_reports_misses(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fkp.evaluate", "--pipeline", "photo", "--data", str(FIXTURES / "ytf68"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    metrics = json.loads(result.stdout)
    assert (
        metrics["n_photos"] == 8
        and metrics["n_images"] + metrics["n_missed"] == 8
        and metrics["units"] == "photo pixels"
    )
    assert 0 <= metrics["missed_share"] < 0.5 and metrics["nme"] < 0.15


def test_api_cannot_make_the_server_read_its_own_files(server, tmp_path, monkeypatch):
    """The exact payload of the reported hole: a path with no upload behind it. The file exists and
    is a real image, yet it is never opened, and the error names neither the path nor its existence."""
    import httpx

    from fkp.demo import handlers

    secret = tmp_path / "server_only.png"
    secret.write_bytes((EXAMPLES / "grace_hopper.jpg").read_bytes())
    opened = []
    monkeypatch.setattr(
        handlers,
        "load_photo_reduced",
        lambda source, *a, _real=handlers.load_photo_reduced, **k: opened.append(str(source)) or _real(source, *a, **k),
    )
    answers = []
    for path in (str(secret), "/no/such/file.png", str(EXAMPLES / ".." / "README.md")):
        posted = httpx.post(
            f"{server}gradio_api/call/predict", json={"data": [{"path": path}, True, False]}, timeout=60
        )
        event_id = posted.json()["event_id"]
        answers.append(httpx.get(f"{server}gradio_api/call/predict/{event_id}", timeout=60).text)
    assert opened == []
    for answer in answers:
        assert "event: error" in answer and "did not arrive as an upload" in answer
        assert (
            "server_only" not in answer
            and "/no/such" not in answer
            and "README" not in answer
            and "Traceback" not in answer
        )


def test_gradio_client_named_endpoint(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    api = client.view_api(return_format="dict", print_info=False)
    assert list(api["named_endpoints"]) == ["/predict"]  # page events are private
    # every output named (by its label), in the order the tuple below unpacks
    assert [output["label"] for output in api["named_endpoints"]["/predict"]["returns"]] == [
        "Status",
        "Keypoints",
        "Faces, numbered by rows, left to right (face score)",
        "Heatmaps of face",
        "Heatmaps",
        "Coordinates (original-photo pixels)",
        "Result (JSON)",
        "Downloads: annotated image (at most 1280 px), JSON, CSV (original-photo pixels)",
    ]
    assert "value_" not in str(client.view_api(return_format="str", print_info=False))
    status, annotated, views, selector, heatmaps, table, result, files = client.predict(
        handle_file(str(EXAMPLES / "two_faces.jpg")), False, False, api_name="/predict"
    )
    assert "2 faces found" in status
    assert Image.open(annotated).size == (949, 512) and Image.open(heatmaps).size[0] >= 800
    assert len(views) == 2 and Image.open(views[0]["image"]).size == (288, 288)
    assert len(table["data"]) == 30 and table["headers"] == ["face", "#", "keypoint", "x", "y", "confidence"]
    # coordinates as JSON in the response itself
    assert len(result["faces"]) == 2 and set(result["faces"][1]["keypoints"]["nose_tip"]) == {"x", "y", "confidence"}
    assert [Path(f).name for f in files] == [
        "two_faces_keypoints.jpg",
        "two_faces_keypoints.json",
        "two_faces_keypoints.csv",
    ]
    assert json.loads(Path(files[1]).read_text()) == result
    status, *_ = client.predict(handle_file(str(EXAMPLES / "no_face_cat.jpg")), False, False, api_name="/predict")
    assert "No face found" in status
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(Exception, match="notes.png could not be read") as raised:
        client.predict(handle_file(str(bad)), False, False, api_name="/predict")
    assert "/" not in str(raised.value).split("could not be read")[0].split()[-1]  # the file's name, not a path
    # the server survived the bad upload
    assert (
        "1 face found"
        in client.predict(handle_file(str(EXAMPLES / "eileen_collins.jpg")), False, False, api_name="/predict")[0]
    )


def test_concurrent_clients_are_all_served_within_bounds(server, app):
    """Several clients at once: all get their results; the photo event runs at most
    PHOTO_CONCURRENCY at a time (bounded memory and CPU), the rest wait in a bounded queue."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file

    running, peak = [0], [0]
    real = app.predict_photo

    def counting(*args, **kwargs):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            return real(*args, **kwargs)
        finally:
            running[0] -= 1

    app.predict_photo = counting
    try:

        def one(_):
            return Client(server, verbose=False, download_files=False).predict(
                handle_file(str(EXAMPLES / "two_faces.jpg")), False, False, api_name="/predict"
            )[0]

        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(one, range(6)))
    finally:
        app.predict_photo = real
    assert all("2 faces found" in status for status in statuses)
    from fkp.demo import demo

    assert peak[0] <= limits.PHOTO_CONCURRENCY
    assert demo._queue.max_size == limits.QUEUE_SIZE and demo.delete_cache == (
        limits.FILE_SECONDS // 3,
        limits.FILE_SECONDS,
    )


def test_memory_stays_bounded_over_many_large_requests(server, tmp_path):
    """Fresh sessions sending large photos: the server keeps no photo, so its memory does not grow
    with the number of requests (benchmarks/demo_server.py runs 50; here 12, after a warm-up)."""
    import gc

    import cv2
    import psutil
    from gradio_client import Client, handle_file

    big = cv2.resize(
        load_photo(EXAMPLES / "two_faces.jpg"), None, fx=4.5, fy=4.5, interpolation=cv2.INTER_CUBIC
    )  # 4270x2304
    path = tmp_path / "large.jpg"
    Image.fromarray(big).save(path, quality=90)
    process = psutil.Process()

    def request():
        assert (
            "2 faces found"
            in Client(server, verbose=False, download_files=False).predict(
                handle_file(str(path)), False, False, api_name="/predict"
            )[0]
        )

    for _ in range(3):
        request()
    gc.collect()
    before = process.memory_info().rss
    for _ in range(12):
        request()
    gc.collect()
    growth = (process.memory_info().rss - before) / 2**20
    assert growth < 100, f"RSS grew by {growth:.0f} MB over 12 large requests"


def wait_for_results(page, text: str, timeout: int = 90_000) -> None:
    page.wait_for_function(
        "document.querySelector('#status') && "
        f"document.querySelector('#status').innerText.includes({json.dumps(text)})",
        timeout=timeout,
    )
    page.locator("#annotated img").first.wait_for(state="visible", timeout=30_000)
    page.locator("#heatmaps img").first.wait_for(state="visible", timeout=30_000)


@needs_chromium
def test_browser_desktop_upload_examples_clear_and_opacity(server):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=browser_args())
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(server)
        assert not page.locator("#results").is_visible()  # no empty placeholders before a photo
        assert "subject's own" in page.locator("#legend").inner_text()  # the points explained
        page.locator("#photo input[type=file]").set_input_files(str(EXAMPLES / "two_faces.jpg"))
        wait_for_results(page, "2 faces found")
        assert page.locator("#faces img").count() >= 2 and page.locator("#face-select").is_visible()
        page.screenshot(path=str(SCREENSHOTS / "desktop.png"), full_page=True)
        page.locator("#accurate input").check()  # the shipped accurate model, on the same photo
        wait_for_results(page, "with the accurate model")
        page.screenshot(path=str(SCREENSHOTS / "desktop_accurate.png"), full_page=True)
        # face selector and opacity (typed, then Enter) re-render the heatmaps
        source = page.locator("#heatmaps img").first.get_attribute("src")
        page.locator("#face-select label").nth(1).click()
        page.wait_for_function(f"document.querySelector('#heatmaps img').src !== {json.dumps(source)}", timeout=30_000)
        source = page.locator("#heatmaps img").first.get_attribute("src")
        box = page.locator("#opacity input[type=number]")
        box.fill("0.2")
        box.press("Enter")
        page.wait_for_function(f"document.querySelector('#heatmaps img').src !== {json.dumps(source)}", timeout=30_000)
        # clearing the photo clears the results
        page.locator("#photo button[aria-label='Remove Image']").first.click()
        page.wait_for_function(
            "!document.querySelector('#results') || document.querySelector('#results').offsetParent === null",
            timeout=30_000,
        )
        # an example runs on click, without a button
        page.locator("button.gallery-item").filter(has=page.locator("img[src*='eileen_collins']")).first.click()
        wait_for_results(page, "1 face found")
        browser.close()


@needs_chromium
def test_browser_phone_layout_puts_results_first(server):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=browser_args())
        page = browser.new_page(
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
        )
        page.goto(server)
        empty_height = page.evaluate("document.documentElement.scrollHeight")
        page.screenshot(path=str(SCREENSHOTS / "phone_empty.png"), full_page=True)
        page.locator("#photo input[type=file]").set_input_files(str(EXAMPLES / "grace_hopper.jpg"))
        wait_for_results(page, "1 face found")
        results, photo = page.locator("#results").bounding_box(), page.locator("#photo").bounding_box()
        assert results["y"] < photo["y"]  # the result comes first on a phone
        assert page.locator("#annotated img").first.bounding_box()["y"] < 844  # and starts on the first screen
        headers = page.locator("#table th")
        page.locator("#table").scroll_into_view_if_needed()
        for name in ("y", "confidence"):  # every column readable, none cut off
            header = headers.filter(has_text=name).last.bounding_box()
            assert header is not None and header["x"] + header["width"] <= 390 + 1, name
        page.screenshot(path=str(SCREENSHOTS / "phone.png"), full_page=True)
        browser.close()
    assert empty_height < 2100


def uncovered(page, selector: str, points: list[tuple[float, float]]) -> list[bool]:
    """For each (fx, fy) fraction of the first ``selector`` element's box: is that element what the
    browser shows there (nothing, such as a toolbar button, on top of it)?"""
    return page.evaluate(
        """([selector, points]) => {
            const e = document.querySelector(selector);
            e.scrollIntoView({block: "center"});
            const b = e.getBoundingClientRect();
            return points.map(([fx, fy]) => document.elementFromPoint(b.x + fx * b.width, b.y + fy * b.height) === e);
        }""",
        [selector, points],
    )


@needs_chromium
@pytest.mark.parametrize("kind", ["desktop", "phone"])
def test_browser_ten_faces_heatmap_tiles_and_error(server, tmp_path, monkeypatch, kind):
    """The 10-face photo, read as a user would at desktop and phone widths: face views large enough
    for their numbers, the 15 heatmap tiles in fewer columns on a phone, each whole (title included)
    and covered by nothing; the table's names unbroken; then an unreadable file: its message alone,
    no empty panels, no broken-image icon."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setattr(limits, "UPLOADS_PER_MINUTE", 1000)  # the tests above upload many photos from this address
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = VIEWPORTS[kind]["viewport"]["width"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=browser_args())
        page = browser.new_page(**VIEWPORTS[kind])
        page.goto(server)
        page.locator("#photo input[type=file]").set_input_files(str(EXAMPLES / "ten_faces.jpg"))
        wait_for_results(page, "10 faces found")
        page.wait_for_function("document.querySelectorAll('#heatmaps img').length === 15", timeout=30_000)
        assert "by rows" in page.locator("#faces").inner_text()  # how faces are numbered, said where they are
        views = page.locator("#faces img")
        assert views.count() == 10 and views.first.bounding_box()["width"] >= 200  # numbers ~12 px or more
        annotated = page.locator("#annotated img").first.bounding_box()
        assert annotated["width"] >= min(700, width - 70)  # the photo as wide as the column
        assert all(uncovered(page, "#annotated img", [(0.02, 0.1), (0.98, 0.1), (0.5, 0.02)]))
        tiles = page.locator("#heatmaps img")
        page.locator("#heatmaps").scroll_into_view_if_needed()
        boxes = [tiles.nth(i).bounding_box() for i in range(15)]
        assert len({round(box["x"]) for box in boxes}) == (5 if kind == "desktop" else 3)
        for i, box in enumerate(boxes):
            assert box["width"] >= 95 and box["x"] + box["width"] <= width, i  # on screen, none cut off
            natural = tiles.nth(i).evaluate("img => img.naturalHeight / img.naturalWidth")
            assert abs(box["height"] / box["width"] - natural) < 0.03, i  # the whole tile shown, title included
            selector = f"#heatmaps .gallery-item:nth-child({i + 1}) img"
            assert all(uncovered(page, selector, [(0.1, 0.05), (0.5, 0.05), (0.9, 0.05), (0.9, 0.15)])), i
        page.locator("#table").scroll_into_view_if_needed()
        lines = page.evaluate(
            """() => { const lines = [];
                 const walker = document.createTreeWalker(document.querySelector('#table'), NodeFilter.SHOW_TEXT);
                 for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                     if (!node.textContent.includes('_') || !node.parentElement.offsetParent) continue;
                     const range = document.createRange(); range.selectNodeContents(node);
                     const tops = new Set([...range.getClientRects()].map(q => Math.round(q.top)));
                     lines.push([node.textContent.trim(), tops.size]); }
                 return lines; }"""
        )
        assert lines and all(count == 1 for _, count in lines), lines  # "right_eye_center" on one line
        page.screenshot(path=str(SCREENSHOTS / f"{kind}_ten_faces.png"), full_page=True)

        bad = tmp_path / "notes.jpg"
        bad.write_text("this is text, not a photo")
        page.locator("#photo input[type=file]").set_input_files(str(bad))
        page.wait_for_function(
            "document.querySelector('#status') && "
            "document.querySelector('#status').innerText.includes('notes.jpg could not be read')",
            timeout=60_000,
        )
        assert "Try a JPEG, PNG or WebP photo" in page.locator("#status").inner_text()
        page.wait_for_function(
            "!document.querySelector('#panels') || document.querySelector('#panels').offsetParent === null",
            timeout=30_000,
        )
        assert not page.locator("#annotated").is_visible() and not page.locator("#heatmaps").is_visible()
        page.wait_for_function("document.querySelector('#photo').classList.contains('fkp-unreadable')", timeout=30_000)
        assert page.locator("#photo img").first.evaluate("img => getComputedStyle(img).visibility") == "hidden"
        page.screenshot(path=str(SCREENSHOTS / f"{kind}_error.png"), full_page=True)
        results, photo = page.locator("#results").bounding_box(), page.locator("#photo").bounding_box()
        assert results["height"] < 150  # the message alone
        if kind == "phone":
            assert photo["y"] < 844  # the photo box, with what to do, on the first screen
        browser.close()


@needs_chromium
def test_browser_live_webcam_streams_annotated_frames(server, tmp_path):
    """Chromium's fake camera plays a video made from an example photo; the live tab must send
    frames and get annotated frames back, continuously."""
    from playwright.sync_api import sync_playwright

    from fkp.tracking import write_y4m

    video = tmp_path / "face.y4m"
    write_y4m(video, load_photo(EXAMPLES / "grace_hopper.jpg"), frames=30)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=browser_args(
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ),
        )
        context = browser.new_context(viewport={"width": 1366, "height": 900}, permissions=["camera"])
        page = context.new_page()
        page.goto(server)
        page.get_by_role("tab", name="Live webcam").click()
        page.locator("#camera").get_by_text("Click to Access Webcam").click()
        page.locator("#camera video").wait_for(state="visible", timeout=30_000)
        page.locator("#camera button").filter(has_text="Record").first.click()
        page.wait_for_function(
            "document.querySelector('#live img') && document.querySelector('#live img').src.length > 100",
            timeout=60_000,
        )
        page.wait_for_function(
            "document.querySelector('#live-status') && "
            "document.querySelector('#live-status').innerText.includes('1 face')",
            timeout=60_000,
        )
        seen = set()
        for _ in range(30):
            seen.add(page.locator("#live img").first.get_attribute("src"))
            page.wait_for_timeout(100)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "live.png"), full_page=True)
        browser.close()
    assert len(seen) >= 5  # frames keep coming back, annotated


def test_flip_option_applies_to_that_request_only(app):
    plain = app.analyse(str(EXAMPLES / "grace_hopper.jpg"))[-1]["faces"][0].keypoints
    flipped = app.analyse(str(EXAMPLES / "grace_hopper.jpg"), flip_test=True)[-1]["faces"][0].keypoints
    assert not np.allclose(plain, flipped) and np.abs(plain - flipped).max() < 10
    assert app.predictor().flip_test is False  # the shared predictor is not changed by a request


def test_accurate_option_applies_to_that_request_only(app, monkeypatch):
    monkeypatch.delenv("FKP_MODEL", raising=False)
    status, *_, payload, _, state = app.analyse(str(EXAMPLES / "grace_hopper.jpg"), accurate=True)
    assert "with the accurate model" in status and payload["model"] == "accurate"
    accurate = state["faces"][0].keypoints
    status, *_, payload, _, state = app.analyse(str(EXAMPLES / "grace_hopper.jpg"))
    assert "accurate" not in status and payload["model"] == "fast"
    plain = state["faces"][0].keypoints
    assert not np.allclose(plain, accurate) and np.abs(plain - accurate).max() < 10
    assert app.predictor().model.stride == 4 and app.accurate_predictor().model.stride == 2
    # only a true boolean turns an option on (a browser may send anything)
    status, *_, state = app.analyse(str(EXAMPLES / "grace_hopper.jpg"), flip_test="false", accurate="false")
    assert "accurate" not in status and np.array_equal(state["faces"][0].keypoints, plain)
    # offered where the server runs the shipped fast model, never in place of another one ($FKP_MODEL)
    monkeypatch.setenv("FKP_MODEL", "fast")
    assert app.offers_accurate_model()
    monkeypatch.setenv("FKP_MODEL", "accurate")
    assert not app.offers_accurate_model()
    assert "accurate" not in app.analyse(str(EXAMPLES / "grace_hopper.jpg"), accurate=True)[0]
