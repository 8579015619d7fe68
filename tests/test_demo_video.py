"""The demo's Video tab: a clip's results (annotated WebM, JSON lines, CSV, plots per track), its limits
checked from the header before decoding, hostile clips (lying headers, frame bombs, corrupt and truncated
files, server paths), the time budget, the session's storage, the gate, and the tab in Chromium."""

import json
import struct
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CHROMIUM, ROOT, SCREENSHOTS, VIEWPORTS, browser_args, needs_chromium

from benchmarks.demo_attacks import (
    avi_claiming,
    clip_bytes,
    completed,
    event_fn_index,
    file_payload,
    gif_bytes,
    gif_claiming,
    join,
    mjpeg_frame_bomb,
    mp4_claiming,
    upload,
)
from fkp.demo import guard, limits, storage
from fkp.demo.results import InputError
from fkp.keypoints import KEYPOINT_NAMES
from fkp.records import CSV_COLUMNS

FRAMES = 12  # clip_bytes' default: two faces drifting right, 10 frames a second, 320x174


@pytest.fixture
def anywhere(monkeypatch):
    """Clips from the test's own folders count as uploads (the upload-folder check has its own tests)."""
    monkeypatch.setattr(guard, "received_file", lambda path: Path(path))


def written(tmp_path: Path, name: str, data: bytes) -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    return {"path": str(path), "orig_name": name}


def read_frames(path: str | Path) -> int:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_a_clip_gives_an_annotated_webm_lines_csv_and_plots_per_track(app, anywhere, tmp_path):
    session = uuid.uuid4().hex
    payload = written(tmp_path, "two faces.avi", clip_bytes())
    status, annotated, selector, plot_x, plot_y, files, state = app.analyse_video(payload, session)
    assert status.startswith("**2 faces followed** (tracks 0, 1) in 12 frames of this 320x174 clip (")
    assert status.endswith(" s of analysis).")
    # the files live in the session's own folder inside Gradio's cache (served without a copy)
    folder = Path(annotated).parent
    assert folder.parent == storage.gradio_cache() and folder.name.startswith(storage.SESSION_PREFIX)
    assert [Path(f).name for f in (annotated, *files)] == [
        "two faces_keypoints.webm",
        "two faces_keypoints.jsonl",
        "two faces_keypoints.csv",
    ]
    head = Path(annotated).read_bytes()[:4096]
    assert b"webm" in head[:64] and b"V_VP8" in head and read_frames(annotated) == FRAMES  # plays in browsers
    lines = [json.loads(line) for line in Path(files[0]).read_text().splitlines()]
    assert len(lines) == 2 * FRAMES and sorted({line["frame"] for line in lines}) == list(range(FRAMES))
    for line in lines:  # fkp predict's lines: the user's file name, never a server path
        assert line["file"] == "two faces.avi" and line["annotated"] == "two faces_keypoints.webm"
        assert line["model"] == "fast"  # as fkp predict names it, never a server path
        assert line["time"] == pytest.approx(line["frame"] / 10, abs=1e-3) and set(line["keypoints"]) == set(
            KEYPOINT_NAMES
        )
    assert all({line["face"]: line["track"] for line in lines if line["frame"] == f} == {1: 0, 2: 1} for f in range(12))
    rows = Path(files[1]).read_text().splitlines()
    assert rows[0] == ",".join(CSV_COLUMNS) and len(rows) == 1 + 2 * FRAMES
    # the plots: each keypoint's x and y over time for the chosen track, from the session state
    assert selector["choices"] == [("track 0 · 0.0–1.1 s (12 frames)", "0"), ("track 1 · 0.0–1.1 s (12 frames)", "1")]
    assert list(plot_x.columns) == ["time (s)", "x (px)", "keypoint"] and len(plot_x) == 15 * FRAMES
    nose = plot_x[plot_x.keypoint == "nose_tip"]["x (px)"].to_numpy()
    assert np.all(np.diff(nose) > 0)  # the faces drift right
    first = [line for line in lines if line["track"] == 0]
    assert plot_y[plot_y.keypoint == "nose_tip"]["y (px)"].to_numpy() == pytest.approx(
        [line["keypoints"]["nose_tip"]["y"] for line in first], abs=0.011
    )
    other_x, _ = app.video_plots(state, "1")
    assert not np.allclose(other_x["x (px)"], plot_x["x (px)"])
    # raw values from the browser: an unknown track is the first, an expired state gives empty plots
    assert app.video_plots(state, "99")[0].equals(plot_x) and app.video_plots(state, "x")[0].equals(plot_x)
    assert len(app.video_plots(None, "0")[0]) == 0
    # the session's next clip replaces its results; the session's end deletes them
    _, second, *_ = app.analyse_video(written(tmp_path, "again.avi", clip_bytes(4)), session)
    assert not folder.exists() and Path(second).exists()
    storage.end_session(session)
    assert not Path(second).parent.exists()


def test_every_container_is_read_by_its_content(app, anywhere, tmp_path):
    """MP4, MOV, MKV and animated GIF (AVI and WebM above), whatever the file's name says."""
    from PIL import Image

    frames = [
        Image.fromarray(np.roll(np.asarray(Image.open(ROOT / "examples" / "two_faces.jpg")), 2 * i, 1))
        for i in range(4)
    ]
    gif = tmp_path / "made.gif"
    frames[0].resize((474, 256)).save(
        gif, save_all=True, append_images=[f.resize((474, 256)) for f in frames[1:]], duration=100
    )
    cases = {
        "clip.mp4": clip_bytes(4, suffix=".mp4", fourcc="mp4v"),
        "clip.mov": clip_bytes(4, suffix=".mov", fourcc="mp4v"),
        "clip.mkv": clip_bytes(4, suffix=".mkv", fourcc="MJPG"),
        "clip.gif": gif.read_bytes(),
        "named wrongly.mp4": gif.read_bytes(),  # a GIF, read as one
    }
    for name, data in cases.items():
        status, annotated, *_ = app.analyse_video(written(tmp_path, name, data), "s")
        assert "2 faces followed" in status and "in 4 frames" in status and read_frames(annotated) == 4, (name, status)


def test_large_frames_are_analysed_reduced_with_coordinates_in_original_pixels(app, anywhere, tmp_path, monkeypatch):
    payload = written(tmp_path, "clip.avi", clip_bytes(4, (640, 346)))
    *_, full_files, _ = app.analyse_video(payload, uuid.uuid4().hex)
    monkeypatch.setattr(limits, "VIDEO_WORK_SIDE", 480)
    status, *_, files, _ = app.analyse_video(payload, uuid.uuid4().hex)
    assert "analysed at 480x260; coordinates are in the clip's own pixels" in status

    def points(line):
        return np.array([[p["x"], p["y"]] for p in line["keypoints"].values()])

    full, reduced = ([json.loads(x) for x in Path(f[0]).read_text().splitlines()] for f in (full_files, files))
    assert reduced and all(line["width"] == 640 and line["face"] for line in reduced)
    for line in reduced:  # each face found at 480 px lies where the same face lies at 640 px
        errors = [np.abs(points(line) - points(other)).mean() for other in full if other["frame"] == line["frame"]]
        assert min(errors) < 2.5, (line["frame"], line["face"], min(errors))


def nested_mp4(depth: int) -> bytes:
    """An MP4 whose moov boxes nest ``depth`` deep (a real clip's boxes nest under ten deep)."""
    inner = b""
    for _ in range(depth):
        inner = struct.pack(">I4s", 8 + len(inner), b"moov") + inner
    return struct.pack(">I4s4sI", 16, b"ftyp", b"isom", 0) + inner


def nested_webm(depth: int) -> bytes:
    """A WebM whose block groups nest ``depth`` deep inside its segment."""

    def element(tag: bytes, payload: bytes) -> bytes:
        return tag + b"\x01" + len(payload).to_bytes(7, "big") + payload

    inner = b""
    for _ in range(depth):
        inner = element(b"\xa0", inner)
    return element(b"\x1a\x45\xdf\xa3", element(b"\x42\x82", b"webm")) + element(b"\x18\x53\x80\x67", inner)


def test_clips_beyond_the_limits_are_refused_from_their_header_before_decoding(app, anywhere, tmp_path, monkeypatch):
    from fkp.demo import clips

    monkeypatch.setattr(clips, "frames", lambda *a, **k: pytest.fail("the decoder was started"))
    avi, mp4 = clip_bytes(), clip_bytes(suffix=".mp4", fourcc="mp4v")
    cases = {
        "huge.avi": (avi_claiming(avi, 60000, 60000), "is 60000x60000: frames may be at most 4K"),
        "wide.mp4": (mp4_claiming(mp4, width=8000, height=100), "is 8000x174: frames may be at most 4K"),
        "huge.gif": (gif_claiming(65535, 65535), "is 65535x65535"),
        "frames.avi": (avi_claiming(avi, frames=5_000_000), "has 5,000,000 frames: a clip may have at most 900"),
        "frames.mp4": (mp4_claiming(mp4, frames=5_000_000), "has 5,000,000 frames"),
        "frames.gif": (gif_bytes(1000), "has 1,000 frames"),
        "text.mp4": (b"this is text, not a clip\n" * 20, "could not be read: it is not a video in a format"),
        "photo.mp4": ((ROOT / "examples" / "two_faces.jpg").read_bytes(), "it is not a video in a format"),
        "still.gif": (gif_bytes(1), "a single frame: it is a still picture; use the Photo tab"),
        "empty.webm": (b"", "could not be read: the file is empty"),
        "cut.mp4": (mp4[: len(mp4) // 2], "the moov box) is missing: the file may be cut short"),
        "nested.mp4": (nested_mp4(5000), "its parts are nested far deeper than a clip's"),
        "nested.webm": (nested_webm(5000), "its parts are nested far deeper than a clip's"),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(InputError, match="^" + name.replace(".", r"\.")) as refused:
            app.analyse_video(written(tmp_path, name, data), "s")
        assert message in str(refused.value), name
        assert str(tmp_path) not in str(refused.value) and "Traceback" not in str(refused.value)
    monkeypatch.setattr(limits, "VIDEO_MAX_SECONDS", 0.5)
    with pytest.raises(InputError, match="long.avi lasts 1 seconds: a clip may last at most 0.5"):
        app.analyse_video(written(tmp_path, "long.avi", avi), "s")
    monkeypatch.setattr(limits, "VIDEO_MAX_BYTES", 1000)
    with pytest.raises(InputError, match=r"big.avi is 0 MB: a clip may be at most 0 MB"):
        app.analyse_video(written(tmp_path, "big.avi", avi), "s")


def test_lying_headers_and_frame_bombs_are_stopped_in_the_decoder(app, anywhere, tmp_path, monkeypatch):
    """A header that understates: the frames are checked as they are decoded, in a child process whose
    memory is capped, so the server itself never holds a bomb's frame."""
    from fkp.demo.decoder import frames

    rss = [0]

    def peak_during(call):
        Path("/proc/self/clear_refs").write_text("5")
        before = int(next(x for x in open("/proc/self/status") if x.startswith("VmRSS")).split()[1])
        try:
            return call()
        finally:
            peak = int(next(x for x in open("/proc/self/status") if x.startswith("VmHWM")).split()[1])
            rss[0] = (peak - before) / 1024

    # JPEG frames of 16000x16000 (768 MB each as RGB) under a header that says 64x36
    with pytest.raises(InputError, match=r"^bomb\.avi .*(can be read|could not be read|stops at frame 0)") as refused:
        peak_during(lambda: app.analyse_video(written(tmp_path, "bomb.avi", mjpeg_frame_bomb()), "s"))
    assert rss[0] < 150, f"the server grew by {rss[0]:.0f} MB"
    assert "Traceback" not in str(refused.value) and str(tmp_path) not in str(refused.value)
    # frames larger than the limit under a header within it
    monkeypatch.setattr(limits, "VIDEO_MAX_SIDE", 300)
    monkeypatch.setattr(limits, "VIDEO_MAX_PIXELS", 300 * 300)
    lying = written(tmp_path, "lying.avi", avi_claiming(clip_bytes(3), 160, 87))
    with pytest.raises(
        InputError, match=r"lying.avi could not be read: frame 0 is 320x174, larger than its header said"
    ):
        app.analyse_video(lying, "s")
    monkeypatch.undo()
    monkeypatch.setattr(guard, "received_file", lambda path: Path(path))
    # more frames than the header says, beyond the limit: the frames within it are kept
    monkeypatch.setattr(limits, "VIDEO_MAX_FRAMES", 5)
    status, annotated, *_, files, _ = app.analyse_video(
        written(tmp_path, "more.avi", avi_claiming(clip_bytes(), frames=4)), "s"
    )
    assert "more.avi was stopped at frame 5: it has more than 5 frames (more than its header said)" in status
    assert "the results cover frames 0 to 4" in status and read_frames(annotated) == 5
    assert max(json.loads(x)["frame"] for x in Path(files[0]).read_text().splitlines()) == 4
    # the decoder stops streaming when its reader stops, and ends its process
    stream = frames(tmp_path / "more.avi", time.monotonic() + 60, "more.avi")
    next(stream)
    stream.close()


def test_a_truncated_clip_reports_where_it_stops_and_keeps_the_frames_read(app, anywhere, tmp_path):
    webm = clip_bytes(suffix=".webm", fourcc="VP80")  # one cluster: FFmpeg reads few of a cut cluster's frames
    for name, data in (("cut.avi", clip_bytes()[:-80_000]), ("cut.webm", webm[: len(webm) * 9 // 10])):
        payload = written(tmp_path, name, data)
        status, annotated, selector, *_, files, _ = app.analyse_video(payload, "s")
        done = read_frames(annotated)
        assert 0 < done < FRAMES and f"⚠️ {name} stops at frame {done} of " in status, status
        assert f"the results cover frames 0 to {done - 1}." in status
        assert sorted({json.loads(x)["frame"] for x in Path(files[0]).read_text().splitlines()}) == list(range(done))
        assert selector["visible"] is True


def test_the_time_budget_stops_a_clip_and_keeps_what_was_done(app, anywhere, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "VIDEO_BUDGET_SECONDS", 2.0)
    started = time.monotonic()
    status, annotated, *_, files, _ = app.analyse_video(
        written(tmp_path, "slow.avi", clip_bytes()), "s", progress=lambda done, total: time.sleep(0.6)
    )
    assert time.monotonic() - started < 20
    done = read_frames(annotated)
    assert 0 < done < FRAMES
    assert f"The analysis stopped at frame {done}, when the 2 seconds one clip may take ran out" in status
    assert len({json.loads(x)["frame"] for x in Path(files[0]).read_text().splitlines()}) == done


def test_a_closed_page_stops_its_clip_at_once(app, anywhere, tmp_path):
    """The session ends (Gradio's unload event: `storage.end_session`) while its clip is analysed: the
    analysis stops at the next frame and frees its slot, leaving no file."""
    import threading

    session, answers = uuid.uuid4().hex, []
    payload = written(tmp_path, "left.avi", clip_bytes(30))

    def run():
        try:
            app.analyse_video(payload, session, progress=lambda done, total: time.sleep(0.3))
        except InputError as error:
            answers.append(str(error))

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while session not in storage.SESSION_FOLDERS and time.monotonic() < deadline:
        time.sleep(0.05)
    folder = storage.SESSION_FOLDERS[session]
    time.sleep(1.0)
    storage.end_session(session)
    started = time.monotonic()
    worker.join(30)
    assert not worker.is_alive() and time.monotonic() - started < 5
    assert answers == ["The analysis stopped: the page was closed."] and not folder.exists()


def test_only_uploads_are_read(app, tmp_path, monkeypatch):
    """A payload naming a server file (no "meta": Gradio does not check it), an inline clip, a folder:
    refused without opening anything, and without saying whether the file exists."""
    from fkp.demo import probe

    monkeypatch.setattr(probe, "read_header", lambda *a: pytest.fail("a file was opened"))
    secret = tmp_path / "server_only.avi"
    secret.write_bytes(clip_bytes(2))
    for payload in (
        {"path": str(secret)},
        {"path": "/no/such/clip.mp4"},
        [{"path": str(secret), "meta": {"_type": "gradio.FileData"}}],
        {"path": None, "url": "data:video/mp4;base64,AAAA"},
        {"path": str(ROOT / "examples")},
    ):
        with pytest.raises(InputError, match="^This clip did not arrive as an upload") as refused:
            app.analyse_video(payload, "s")
        assert "server_only" not in str(refused.value)
    for payload in ("clip.mp4", 3):
        with pytest.raises(InputError, match="did not carry a clip"):
            app.analyse_video(payload, "s")


def test_the_page_handler_clears_old_results_and_words_every_failure(app, anywhere, tmp_path, monkeypatch):
    status, *outputs, reveal, panels = app.analyse_video_on_page(None, None)
    assert status.startswith("Upload a clip") and reveal["visible"] is False and outputs[0] is None
    bad = written(tmp_path, "notes.mp4", b"text" * 100)
    status, annotated, selector, *rest, reveal, panels = app.analyse_video_on_page(bad, None)
    assert status.startswith("⚠️ notes.mp4 could not be read") and reveal["visible"] and not panels["visible"]
    assert annotated is None and selector["visible"] is False and all(x is None for x in rest)
    from fkp.demo import clips

    monkeypatch.setattr(clips, "analyse_clip", lambda *a, **k: 1 / 0)  # a bug: a plain message, no trace
    status, *_ = app.analyse_video_on_page(written(tmp_path, "ok.avi", clip_bytes(2)), None)
    assert status == "⚠️ This clip could not be analysed. Try another clip, or a shorter one."


def output_of(message: dict | None) -> list:
    assert message is not None and message.get("success"), message
    return message["output"]["data"]


def test_over_http_one_clip_per_address_one_at_a_time_and_no_server_file(server, monkeypatch):
    """Raw HTTP, as an attacker sends it: a payload naming a server file without "meta"; two clips from
    one address (the second refused by the gate); three addresses at once (one analysis runs at a time,
    the others wait); an upload over the size limit."""
    import httpx

    from fkp.demo import clips, probe

    index = event_fn_index(server, "clip")
    opened = []
    monkeypatch.setattr(probe, "read_header", lambda path: opened.append(path))
    secret = str(ROOT / "tests" / "fixtures")  # any server path
    for payload in ({"path": secret}, file_payload(secret), {"path": secret, "meta": {"_type": "gradio.FileData"}}):
        session = uuid.uuid4().hex[:11]
        assert join(server, index, [payload], session).status_code == 200
        message = completed(server, session)
        assert message is not None and not message.get("success") and message["output"] == {"error": None}
    assert opened == []
    monkeypatch.undo()

    running, peak, real = [0], [0], clips.analyse_clip

    def counting(*args, **kwargs):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            time.sleep(1.0)  # long enough for the other requests to be waiting meanwhile
            return real(*args, **kwargs)
        finally:
            running[0] -= 1

    monkeypatch.setattr(clips, "analyse_clip", counting)
    monkeypatch.setenv("FKP_TRUST_PROXY", "1")
    clip = file_payload(upload(server, clip_bytes(4), "clip.avi"))
    sessions = [uuid.uuid4().hex[:11] for _ in range(3)]
    for number, session in enumerate(sessions):
        assert join(server, index, [clip], session, address=f"203.0.113.{20 + number}").status_code == 200
    again = join(server, index, [clip], address="203.0.113.20")
    assert again.status_code == 429 and "already has a clip being analysed" in again.text
    for session in sessions:
        assert "2 faces followed" in output_of(completed(server, session))[0]
    assert peak[0] == limits.VIDEO_CONCURRENCY == 1
    answer = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.mp4", b"\0" * (26 * 2**20))}, timeout=120)
    assert answer.status_code == 413


@needs_chromium
@pytest.mark.parametrize("kind", ["desktop", "phone"])
def test_browser_video_tab_plays_the_annotated_clip_and_plots_a_track(server, tmp_path, kind):
    """Upload a short clip in Chromium: the annotated clip plays (metadata loaded, a duration, time
    advancing), both plots are drawn, the track selector re-draws them, the page states the limits,
    nothing overflows the phone's width; closing the page deletes the session's results."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    clip = tmp_path / "two faces.webm"
    clip.write_bytes(clip_bytes(20, (480, 260), fourcc="VP80", suffix=".webm"))
    args = browser_args("--autoplay-policy=no-user-gesture-required")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page(**VIEWPORTS[kind])
        page.goto(server)
        page.get_by_role("tab", name="Video").click()
        limits_text = page.locator("#video-limits").inner_text()
        assert "25 MB, 30 seconds and 900 frames" in limits_text and "One clip at a time" in limits_text
        assert f"Up to {limits.VIDEO_MAX_FACES} faces are followed in a frame" in limits_text
        before = set(storage.SESSION_FOLDERS.values())
        page.locator("#clip input[type=file]").set_input_files(str(clip))
        page.wait_for_function(
            "document.querySelector('#video-status') && "
            "document.querySelector('#video-status').innerText.includes('2 faces followed')",
            timeout=180_000,
        )
        video = page.locator("#video-annotated video").first
        video.wait_for(state="attached", timeout=30_000)
        page.wait_for_function(
            "(() => { const v = document.querySelector('#video-annotated video');"
            " return v && v.readyState >= 2 && v.duration > 0; })()",
            timeout=60_000,
        )
        played = video.evaluate(
            """async v => { v.muted = true; await v.play(); await new Promise(r => setTimeout(r, 800));
                 return [v.duration, v.currentTime, v.videoWidth, v.error]; }"""
        )
        assert played[0] == pytest.approx(2.0, abs=0.2) and played[1] > 0 and played[2] == 480 and played[3] is None
        for plot in ("#plot-x", "#plot-y"):  # drawn by Vega: a canvas or an svg with lines
            page.wait_for_function(
                f"(() => {{ const e = document.querySelector('{plot} canvas, {plot} svg .mark-line');"
                " return e && e.getBoundingClientRect().width > 100; })()",
                timeout=60_000,
            )
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[kind]["viewport"]["width"]
        label, shown = (page.locator(f"#video-annotated {part}").first.bounding_box() for part in ("label", "video"))
        assert label["y"] + label["height"] <= shown["y"] + 1  # the label above the clip, not on its top row
        page.screenshot(path=str(SCREENSHOTS / f"{kind}_video.png"), full_page=True)
        selector = page.locator("#track-select input")
        selector.click()
        page.get_by_role("option", name="track 1").click()
        page.wait_for_function(
            "document.querySelector('#track-select input').value.startsWith('track 1')", timeout=30_000
        )
        folders = set(storage.SESSION_FOLDERS.values()) - before
        assert len(folders) == 1 and all(folder.exists() for folder in folders)
        page.close()
        deadline = time.monotonic() + 60
        while any(folder.exists() for folder in folders) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(folder.exists() for folder in folders)  # the session ended: its results are gone
        browser.close()
