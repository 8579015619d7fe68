"""The demo package without a server: what importing it costs, and its pure parts (results, guard,
storage, streams) on their own."""

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT

from fkp.demo import guard, results, storage, streams
from fkp.images import NotAnImageError
from fkp.keypoints import KEYPOINT_NAMES


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter whose temporary folder is ``tmp_path`` (empty)."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_importing_the_demo_loads_no_gradio_no_model_and_makes_no_folder(tmp_path):
    code = """
import sys
import fkp.demo, fkp.demo.results, fkp.demo.guard, fkp.demo.storage, fkp.demo.streams, fkp.demo.memory
loaded = [name for name in ("gradio", "fkp.landmarker", "fkp.demo.handlers", "fkp.demo.page") if name in sys.modules]
assert not loaded, loaded
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []  # no downloads folder, nothing of Gradio's


def test_building_the_page_does_not_load_the_model(tmp_path):
    """The handlers and the page import Gradio, but the weights and the detector load on first use
    (or at launch), not at import nor when the page is built."""
    code = """
import gc
import fkp.demo
from fkp.demo import handlers
page = fkp.demo.build_demo()
assert fkp.demo.demo is fkp.demo.demo and fkp.demo.demo is not page  # the process's one page, built once
assert handlers.predictor.cache_info().currsize == 0 and handlers.detector.cache_info().currsize == 0
from fkp.landmarker import FaceKeypoints
assert not any(isinstance(o, FaceKeypoints) for o in gc.get_objects())
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.glob("fkp-demo-*"))


def test_demo_help_answers_without_loading_gradio():
    code = """
import sys
from fkp.cli import main
try:
    main(["demo", "--help"])
except SystemExit as exit:
    assert exit.code == 0
assert "gradio" not in sys.modules and "fkp.demo.page" not in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: fkp demo" in result.stdout and "--port" in result.stdout


# ---------------------------------------------------------------------------- results


class FakeBox:
    def __init__(self, x, y, size=10.0):
        self.x, self.y, self.width, self.height = x, y, size, size

    @property
    def center(self):
        return np.array([self.x + self.width / 2, self.y + self.height / 2])


def fake_face(x=0.0, y=0.0, score=0.9):
    keypoints = np.stack([np.arange(15) + x, np.arange(15) + y], axis=1).astype(float)
    return SimpleNamespace(
        box=FakeBox(x, y),
        keypoints=keypoints,
        confidence=np.full(15, 0.876),
        face_score=score,
        looks_like_a_face=score >= 0.5,
        as_dict=lambda: {"face_score": score},
    )


def test_faces_are_read_by_rows_then_left_to_right():
    # two rows: the second face of the top row sits a little lower, but overlaps the row's first face
    faces = {
        name: fake_face(x, y)
        for name, (x, y) in {"a": (0, 0), "b": (50, 4), "c": (100, 1), "d": (10, 40), "e": (60, 38)}.items()
    }
    shuffled = [faces[name] for name in "ecadb"]
    assert results.reading_order(shuffled) == [faces[name] for name in "abcde"]
    assert results.reading_order([faces["e"]]) == [faces["e"]]
    no_box = SimpleNamespace(box=None)  # whole-image mode: left as it is
    assert results.reading_order([faces["e"], no_box]) == [faces["e"], no_box]


def test_table_rows_payload_and_captions():
    faces = [fake_face(0, 0), fake_face(100, 0, score=0.2)]
    rows = results.keypoint_rows(faces)
    assert len(rows) == 30 and rows[0] == [1, 1, KEYPOINT_NAMES[0], 0.0, 0.0, 0.88]
    assert rows[-1][:3] == [2, 15, KEYPOINT_NAMES[-1]] and rows[-1][3:5] == [114.0, 14.0]
    assert list(results.table(rows).columns) == results.TABLE_COLUMNS
    payload = results.result_payload("me.jpg", 640, 480, "fkp shipped weights", faces)
    assert payload["image"] == "me.jpg" and payload["faces"] == [{"face_score": 0.9}, {"face_score": 0.2}]
    assert "original-photo pixels" in payload["coordinates"]
    assert results.face_caption(2, faces[1]) == "face 2 · 0.20"


def test_status_lines():
    faces = [fake_face(0, 0), fake_face(100, 0, score=0.2)]
    status = results.photo_status(faces, 25, 8192, 9600, (2.0, 2.0), 0.5)
    assert status.startswith("**25 faces found** in this 8192x9600 image.")
    assert "read at 1/2 size" in status and "The 2 largest are shown" in status
    assert "may not be a face" in status and "face 2 (0.20)" in status and "under 0.5" in status
    one = results.photo_status(faces[:1], 1, 96, 96, (1.0, 1.0), 0.5, whole_image=True)
    assert one == "**image treated as one face** in this 96x96 image."
    assert "No face found" in results.no_face_status(640, 480) and "640x480" in results.no_face_status(640, 480)
    assert results.live_status(1, 14.96, 0.0424) == "1 face · 15.0 frames/s arriving · 42 ms a frame on the server"
    assert results.live_status(0, 0.0, 0.01).startswith("0 faces ·")
    assert results.skipped_frame("it is broken.").endswith("could not be read: it is broken. The stream goes on.")


def test_plain_messages_name_the_file_never_a_path(tmp_path):
    reason = "its contents are not a known image format (JPEG, ...)."
    message = results.plain_reason(NotAnImageError(f"{tmp_path}/x.jpg is not an image", reason), "x.jpg")
    assert message == f"x.jpg could not be read: {reason} Try a JPEG, PNG or WebP photo."
    assert (
        results.plain_reason(NotAnImageError("m", "there is no such file"), "y.png")
        == "y.png could not be read: there is no such file."
    )
    assert results.display_name(None, "/srv/uploads/abc/photo.jpg") == "photo.jpg"
    assert results.display_name("../../etc/me.png", "/srv/x") == "me.png"
    assert results.display_name(None, b"\xff\xd8") == "capture.png"


def test_the_model_label_is_never_a_server_path_in_the_demo(tmp_path):
    from fkp.shipped import SHIPPED_MODELS, model_label

    assert model_label(str(SHIPPED_MODELS["fast"]), hide_path=True) == "fast"
    assert model_label(f"{SHIPPED_MODELS['fast']}/../weights/accurate", hide_path=True) == "accurate"
    assert model_label("user/fkp-model", hide_path=True) == "user/fkp-model"  # a Hub id, as it is
    assert model_label(str(tmp_path), hide_path=True) == tmp_path.name
    assert model_label(str(tmp_path)) == str(tmp_path.resolve())  # fkp predict's lines: where it was
    assert model_label(None) is None  # a model passed as an object has no name to give


# ---------------------------------------------------------------------------- guard


def data_url(data: bytes) -> dict:
    return {"url": "data:image/png;base64," + base64.b64encode(data).decode()}


def test_inline_captures_are_decoded_and_bounded():
    assert guard.received_image(data_url(b"12345")) == (b"12345", "capture.png")
    with pytest.raises(results.InputError, match="larger than 1 MB"):
        guard.received_image(data_url(bytes(2 * 2**20)), max_bytes=2**20)
    with pytest.raises(results.InputError, match="could not be read"):
        guard.received_image({"url": "data:image/png;base64,@@@"})
    with pytest.raises(results.InputError, match="Upload a photo"):
        guard.received_image(None)
    with pytest.raises(results.InputError, match="did not carry an image"):
        guard.received_image("/etc/passwd")


def test_a_path_outside_gradios_folders_is_refused():
    for payload in ({"path": "/etc/passwd"}, {"path": str(ROOT / "README.md")}, {"url": 7, "path": ["x"]}):
        with pytest.raises(results.InputError, match="did not arrive as an upload"):
            guard.received_image(payload)
    source, name = guard.received_image({"path": str(guard.EXAMPLES / "grace_hopper.jpg"), "orig_name": "me.jpg"})
    assert Path(source).name == "grace_hopper.jpg" and name == "me.jpg"


# ---------------------------------------------------------------------------- storage and streams


def test_only_old_empty_folders_are_removed(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    (tmp_path / "file").write_text("x")
    assert storage.remove_empty_folders(tmp_path, max_age=3600) == 0  # too young
    assert storage.remove_empty_folders(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "full"]
    assert storage.remove_empty_folders(tmp_path / "missing") == 0


def test_result_files(tmp_path):
    rows = [[1, 1, "left_eye_center", 1.5, 2.5, 0.9]]
    json_path, csv_path = storage.write_tables(tmp_path, "me", {"faces": []}, rows)
    assert Path(json_path).name == "me_keypoints.json" and Path(csv_path).read_text().splitlines() == [
        "face,#,keypoint,x,y,confidence",
        "1,1,left_eye_center,1.5,2.5,0.9",
    ]
    storage.write_jpeg(tmp_path / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    assert (tmp_path / "a.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_watchdog_closes_abandoned_and_silent_streams(monkeypatch):
    class Event:
        def __init__(self, session, alive=True):
            self.session_hash, self.alive, self.streaming, self.closed = session, alive, True, False
            self.run_time, self.signal = 0.0, asyncio.Event()

    gone, silent, busy = Event("gone", alive=False), Event("silent"), Event("busy")
    blocks = SimpleNamespace(_queue=SimpleNamespace(active_jobs=[[gone], [silent], [busy], None]))
    monkeypatch.setattr(streams, "LIVE_ACTIVITY", {"left": 0.0})

    async def scenario():
        watchdog = asyncio.create_task(streams.close_abandoned_streams(blocks, idle=0.2))
        for _ in range(8):  # "busy" keeps sending frames
            streams.note_frame("busy")
            await asyncio.sleep(0.05)
        watchdog.cancel()

    asyncio.run(scenario())
    assert gone.closed and gone.signal.is_set() and gone.run_time == float("inf")
    assert silent.closed and not busy.closed
    assert "left" not in streams.LIVE_ACTIVITY  # a session without a stream is forgotten
