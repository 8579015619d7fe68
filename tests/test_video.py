"""Videos through `fkp predict` (fkp.video): one line per frame and face with frame, time and track id,
the annotated VP9 WebM, --csv (fkp.records) for clips and photos, --every, animated GIFs and a truncated
clip."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from fkp.records import CSV_COLUMNS, csv_row
from fkp.video import is_video, read_video

ENV_EXTRA = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
FRAMES, FPS = 20, 10


def clip_frames() -> list[np.ndarray]:
    """Two faces (examples/two_faces.jpg at half size) drifting right by 2 px a frame, BGR."""
    photo = cv2.imread(str(ROOT / "examples" / "two_faces.jpg"))
    size = (474, 256)
    return [cv2.warpAffine(photo, np.float32([[0.5, 0, 2 * i], [0, 0.5, 0]]), size) for i in range(FRAMES)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (474, 256))
    for frame in clip_frames():
        writer.write(frame)
    writer.release()
    return path


def predict(*args):
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT), **ENV_EXTRA}
    command = [sys.executable, "-m", "fkp.predict", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def table(path) -> tuple[list[str], list[list[str]]]:
    """A CSV file's header and rows, as strings."""
    with open(path, newline="") as handle:
        header, *rows = csv.reader(handle)
    return header, rows


@pytest.fixture(scope="module")
def clip_run(clip, tmp_path_factory):
    """The clip through `fkp predict` once, with --out, --csv and --annotated: (folder, completed process)."""
    folder = tmp_path_factory.mktemp("clip_run")
    args = ["--out", folder / "out.jsonl", "--csv", folder / "out.csv", "--annotated", folder / "drawn"]
    return folder, predict(clip, *args)


def test_a_clip_gives_a_line_per_frame_and_face_with_stable_tracks_and_an_annotated_webm(clip_run):
    tmp_path, result = clip_run
    assert result.returncode == 0, result.stderr
    records = lines(tmp_path / "out.jsonl")
    assert sorted({r["frame"] for r in records}) == list(range(FRAMES))
    for r in records:
        assert r["time"] == pytest.approx(r["frame"] / FPS, abs=1e-3)
        assert r["face"] in (1, 2) and r["width"] == 474 and r["height"] == 256 and r["model"] == "fast"
    by_frame = {}
    for r in records:
        by_frame.setdefault(r["frame"], {})[r["face"]] = r["track"]
    assert all(faces == by_frame[0] for faces in by_frame.values()) and len(set(by_frame[0].values())) == 2
    for track in by_frame[0].values():  # each box moves with its face (2 px a frame), not held at its detection
        faces = sorted((r for r in records if r["track"] == track), key=lambda r: r["frame"])
        first, last = faces[0], faces[-1]
        moved = last["box"]["x"] - first["box"]["x"]
        assert moved == pytest.approx(2 * (FRAMES - 1), abs=6)
        for r in faces:
            nose, box = r["keypoints"]["nose_tip"], r["box"]
            assert box["x"] < nose["x"] < box["x"] + box["width"] and box["y"] < nose["y"] < box["y"] + box["height"]
    video = tmp_path / "drawn" / "clip_keypoints.webm"
    assert {r["annotated"] for r in records} == {str(video)}
    assert not [p for p in video.parent.iterdir() if p != video]  # the temporary file was renamed
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    assert int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"VP90"
    assert b"V_VP9" in video.read_bytes()[:4096] and b"webm" in video.read_bytes()[:64]  # VP9 in WebM
    read = sum(1 for _ in iter(lambda: capture.read()[0] or None, None))
    assert read == FRAMES


def test_a_clip_as_csv_gives_a_row_per_frame_and_face_with_its_track(clip_run):
    tmp_path, result = clip_run
    assert result.returncode == 0, result.stderr
    header, rows = table(tmp_path / "out.csv")
    assert header == list(CSV_COLUMNS) and "nose_tip_confidence" in header and "box_roll_degrees" in header
    records = lines(tmp_path / "out.jsonl")
    assert len(rows) == len(records) == 2 * FRAMES  # two faces in each frame
    assert rows == [[str(value) for value in csv_row(record)] for record in records]  # the same lines
    column = {name: header.index(name) for name in header}
    for row in rows:
        assert row[column["file"]].endswith("clip.avi") and row[column["error"]] == ""
        assert row[column["model"]] == "fast"
        assert float(row[column["time"]]) == pytest.approx(int(row[column["frame"]]) / FPS, abs=1e-3)
        assert 0 <= float(row[column["nose_tip_x"]]) < 474 and 0 <= float(row[column["nose_tip_y"]]) < 256
    tracks = {(int(row[column["frame"]]), int(row[column["face"]])): int(row[column["track"]]) for row in rows}
    assert sorted({frame for frame, _ in tracks}) == list(range(FRAMES))
    assert {tracks[frame, 1] for frame in range(FRAMES)} == {tracks[0, 1]} != {tracks[0, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drawn", "out.csv", "out.jsonl"]  # no temporary left


def test_photos_as_csv_alone_one_row_per_face_and_one_for_a_photo_without_one(tmp_path):
    from fkp.predict import main

    examples = ROOT / "examples"
    out = tmp_path / "faces.csv"
    assert main([str(examples / "two_faces.jpg"), str(examples / "no_face_cat.jpg"), "--csv", str(out)]) == 0
    header, rows = table(out)
    assert header == list(CSV_COLUMNS)
    column = {name: header.index(name) for name in header}
    assert [(Path(r[column["file"]]).name, r[column["face"]]) for r in rows] == [
        ("two_faces.jpg", "1"),
        ("two_faces.jpg", "2"),
        ("no_face_cat.jpg", ""),
    ]
    for row in rows[:2]:  # photos: no frame, time or track; every keypoint filled in
        assert row[column["frame"]] == row[column["time"]] == row[column["track"]] == ""
        assert all(row[i] != "" for i, name in enumerate(header) if name.endswith(("_x", "_y", "_confidence")))
    assert float(rows[0][column["box_x"]]) < float(rows[1][column["box_x"]])  # reading order
    assert rows[2][column["error"]] == "no face found" and rows[2][column["nose_tip_x"]] == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.csv"]


def test_csv_is_written_atomically_an_earlier_file_survives_a_failed_run(tmp_path, monkeypatch):
    from fkp import predict as command

    earlier = tmp_path / "faces.csv"
    earlier.write_text("earlier\n")
    photo = str(ROOT / "examples" / "grace_hopper.jpg")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(command, "predict_files", interrupted)
    with pytest.raises(KeyboardInterrupt):
        command.main([photo, "--csv", str(earlier), "--out", str(tmp_path / "out.jsonl")])
    assert earlier.read_text() == "earlier\n" and sorted(p.name for p in tmp_path.iterdir()) == ["faces.csv"]
    assert command.main([str(tmp_path / "missing.jpg"), "--csv", str(earlier)]) == 1  # nothing read
    assert earlier.read_text() == "earlier\n" and sorted(p.name for p in tmp_path.iterdir()) == ["faces.csv"]


def test_csv_usage_errors(tmp_path):
    from fkp.errors import run_cli
    from fkp.predict import main

    photo = str(ROOT / "examples" / "grace_hopper.jpg")
    with pytest.raises(SystemExit) as usage:
        main([photo])
    assert usage.value.code == 2  # neither --out nor --csv
    same = str(tmp_path / "r.txt")
    assert run_cli(main, [photo, "--out", same, "--csv", same]) == 2
    assert run_cli(main, [photo, "--csv", str(tmp_path)]) == 2  # a folder
    assert list(tmp_path.iterdir()) == []


def test_every_nth_frame_and_an_animated_gif(tmp_path):
    frames = [Image.fromarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)) for f in clip_frames()[:6]]
    gif = tmp_path / "clip.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert is_video(gif) and not is_video(ROOT / "examples" / "two_faces.jpg")
    result = predict(gif, "--out", tmp_path / "out.jsonl", "--every", "2")
    assert result.returncode == 0, result.stderr
    records = lines(tmp_path / "out.jsonl")
    assert sorted({r["frame"] for r in records}) == [0, 2, 4]
    assert {r["frame"]: r["time"] for r in records} == {0: 0.0, 2: 0.2, 4: 0.4}


def test_a_frame_without_a_face_gets_a_null_line(tmp_path):
    path = tmp_path / "blank.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (160, 120))
    for _ in range(3):
        writer.write(np.full((120, 160, 3), 90, np.uint8))
    writer.release()
    result = predict(path, "--out", tmp_path / "out.jsonl")
    assert result.returncode == 0, result.stderr
    assert [(r["frame"], r["face"], r["track"]) for r in lines(tmp_path / "out.jsonl")] == [
        (0, None, None),
        (1, None, None),
        (2, None, None),
    ]


def test_a_truncated_clip_is_reported_at_the_frame_where_it_stops_and_keeps_its_lines(clip, tmp_path):
    cut = tmp_path / "cut.avi"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size * 6 // 10])
    read = 0
    with pytest.raises(Exception, match=r"stops at frame \d+ of 20") as stopped:
        for _ in read_video(cut):
            read += 1
    assert 0 < read < FRAMES and stopped.value.frames == read
    result = predict(cut, "--out", tmp_path / "out.jsonl", "--annotated", tmp_path / "drawn")
    assert result.returncode == 1
    assert f"stops at frame {read} of 20" in result.stderr
    records = lines(tmp_path / "out.jsonl")
    assert sorted({r["frame"] for r in records[:-1]}) == list(range(read))  # what was read is kept
    assert records[-1]["frame"] == read and records[-1]["face"] is None and "stops at frame" in records[-1]["error"]
    assert (tmp_path / "drawn" / "cut_keypoints.webm").exists()


def test_a_damaged_clip_that_cannot_be_opened_is_reported(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    result = predict(bad, tmp_path / "missing.mp4", "--out", tmp_path / "out.jsonl")
    assert result.returncode == 1 and "bad.mp4 is not a video that can be read: it cannot be opened" in result.stderr
    assert "missing.mp4 is not a video that can be read: there is no such file" in result.stderr
    assert "WARN" not in result.stderr  # OpenCV's own lines about its backends are not shown
    assert not (tmp_path / "out.jsonl").exists()  # nothing was read: no file


def test_the_video_extensions_are_the_same_in_the_cli_and_the_reader():
    """fkp.predict keeps its own copy (so that --help loads no OpenCV): it must not drift from fkp.video's."""
    from fkp import predict, video

    assert predict.VIDEO_SUFFIXES == video.VIDEO_SUFFIXES
