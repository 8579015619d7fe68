"""Issue 15: bad data and odd inputs are one-line errors (no traceback) or skipped and counted.

Data: empty, header-only, ragged and non-UTF-8 CSVs, keypoints far outside the image (an error
naming the row and field, or skipped and counted with --skip-bad-rows). Prediction: named pipes,
symbolic link loops, unreadable files, exit statuses and an --out file that a failed run never
destroys. Most checks call the commands' main() in-process; the few subprocesses cover the
``python -m`` forms and the named pipe (which must not hang: they run under a timeout).
"""

import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, ROOT

from fkp import cli
from fkp.data import OUTSIDE_MARGIN, DataError, load_source, read_ytf68_photos
from fkp.errors import run_cli

KAGGLE = FIXTURES / "kaggle"
EXAMPLES = ROOT / "examples"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def kaggle_lines() -> list[str]:
    return (KAGGLE / "training.csv").read_text().splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def with_field(line: str, header: str, column: str, value: str) -> str:
    """A Kaggle CSV line with one field replaced (the Image field has no commas)."""
    fields = line.split(",")
    fields[header.split(",").index(column)] = value
    return ",".join(fields)


def convert(capsys, *args: str) -> tuple[int, str, str]:
    """`fkp convert ARGS` in-process: (exit status, stdout, stderr)."""
    status = cli.main(["convert", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith("fkp convert: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --- 7: data errors are one line, naming the file ----------------------------------------------


def test_empty_csv(tmp_path, capsys):
    (tmp_path / "training.csv").write_text("")
    status, _, err = convert(capsys, str(tmp_path / "training.csv"), str(tmp_path / "out.parquet"))
    assert_one_line_error(status, err, "training.csv: the file is empty")
    assert not (tmp_path / "out.parquet").exists()


def test_header_only_csv(tmp_path, capsys, ytf_copy):
    path = write_lines(tmp_path / "training.csv", kaggle_lines()[:1])
    status, _, err = convert(capsys, str(path), str(tmp_path / "out.parquet"))
    assert_one_line_error(status, err, "training.csv: no rows")
    table = ytf_copy / "mini_frames_keypoints.csv"
    write_lines(table, table.read_text().splitlines()[:1])
    with pytest.raises(DataError, match=r"mini_frames_keypoints.csv: no rows"):
        load_source(ytf_copy)


def test_ragged_row_names_the_line(tmp_path, capsys, ytf_copy):
    lines = kaggle_lines()
    lines[3] = lines[3] + ",7"
    path = write_lines(tmp_path / "training.csv", lines)
    status, _, err = convert(capsys, str(path), str(tmp_path / "out.parquet"))
    assert_one_line_error(status, err, "training.csv: line 4 (row 2): 32 fields, expected 31")
    # a short row too (pandas filled it with blanks), and in the ytf68 reader
    table = ytf_copy / "mini_frames_keypoints.csv"
    rows = table.read_text().splitlines()
    rows[2] = rows[2].rsplit(",", 1)[0]
    write_lines(table, rows)
    with pytest.raises(DataError, match=r"mini_frames_keypoints.csv: line 3 \(row 1\): 136 fields, expected 137"):
        load_source(ytf_copy)
    assert len(list(read_ytf68_photos(ytf_copy, on_error="skip"))) == 7


def test_text_that_is_not_utf8_names_the_line(tmp_path, capsys):
    lines = kaggle_lines()
    path = tmp_path / "training.csv"
    path.write_bytes(("\n".join(lines[:3]) + "\n").encode() + b"caf\xe9," + lines[3].encode() + b"\n")
    status, _, err = convert(capsys, str(path), str(tmp_path / "out.parquet"))
    assert_one_line_error(status, err, "training.csv: line 4: not UTF-8 text")


def test_wrong_columns_and_broken_parquet(tmp_path, capsys, ytf_copy):
    (tmp_path / "training.csv").write_text("a,b\n1,2\n")
    status, _, err = convert(capsys, str(tmp_path / "training.csv"), str(tmp_path / "out.parquet"))
    assert_one_line_error(status, err, "missing column(s) left_eye_center_x")
    table = ytf_copy / "mini_frames_keypoints.csv"
    write_lines(table, [",".join(row.split(",")[:-2]) for row in table.read_text().splitlines()])
    with pytest.raises(DataError, match="135 columns, expected a file name"):
        load_source(ytf_copy)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="broken.parquet: cannot read it as parquet"):
        load_source(tmp_path / "broken.parquet")


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "training.csv").write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        cli.main(["convert", str(tmp_path / "training.csv"), str(tmp_path / "out.parquet"), "--debug"])


# --- 8: keypoints outside the image --------------------------------------------------------------


def test_keypoint_outside_the_frame_is_an_error_naming_row_and_field(tmp_path, capsys):
    lines = kaggle_lines()
    lines[2] = with_field(lines[2], lines[0], "nose_tip_x", "500")
    lines[3] = with_field(lines[3], lines[0], "nose_tip_y", "-300")
    path = write_lines(tmp_path / "training.csv", lines)
    status, _, err = convert(capsys, str(path), str(tmp_path / "out.parquet"))
    assert_one_line_error(
        status, err, "training.csv: line 3 (row 1), field 'nose_tip_x': x = 500 lies outside the 96x96 frame"
    )
    # --skip-bad-rows drops both rows and says how many
    status, out, err = convert(capsys, str(path), str(tmp_path / "out.parquet"), "--skip-bad-rows")
    assert status == 0 and "wrote 10 rows" in out
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 10


def test_labels_slightly_outside_the_frame_are_kept(tmp_path):
    # crops cut faces: a label a few pixels outside is real data, within the documented margin
    lines = kaggle_lines()
    margin = OUTSIDE_MARGIN * 96
    lines[1] = with_field(lines[1], lines[0], "left_eye_center_x", f"{95 + margin - 1:g}")
    lines[2] = with_field(lines[2], lines[0], "right_eye_center_y", f"{-margin + 1:g}")
    dataset = load_source(write_lines(tmp_path / "training.csv", lines))
    assert len(dataset) == len(lines) - 1
    lines[2] = with_field(lines[2], lines[0], "right_eye_center_y", f"{-margin - 1:g}")
    with pytest.raises(DataError, match=r"line 3 \(row 1\), field 'right_eye_center_y'"):
        load_source(write_lines(tmp_path / "training.csv", lines))


def test_landmark_far_outside_the_photo(ytf_copy, caplog):
    table = ytf_copy / "mini_frames_keypoints.csv"
    rows = table.read_text().splitlines()
    fields = rows[3].split(",")
    fields[1 + 2 * 30] = "5300.0"  # landmark 30 (nose tip) x, ~5,000 px right of the photo
    rows[3] = ",".join(fields)
    write_lines(table, rows)
    expected = r"line 4 \(row 2\), field '60' \(landmark 30 x\): x = 5300 lies outside the \d+x\d+ photo"
    with pytest.raises(DataError, match=expected):
        load_source(ytf_copy)
    skipped: list[str] = []
    with caplog.at_level(logging.WARNING):
        dataset = load_source(ytf_copy, on_error="skip", skipped=skipped)
    assert len(dataset) == 7 and len(skipped) == 1 and "skipped 1 bad row(s)" in caplog.text


def test_parquet_row_outside_the_frame(tmp_path):
    dataset = load_source(FIXTURES / "frames.parquet")

    def far_out(row: dict, index: int) -> dict:
        keypoints = np.asarray(row["keypoints"], dtype=np.float32)
        if index == 5:
            keypoints[10] = (500, -300)  # like the row that moved an evaluation's RMSE to 34.8 px
        return {"keypoints": keypoints}

    dataset.map(far_out, with_indices=True).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=rf"bad.parquet: row 5 \(id '{dataset['id'][5]}'\), field 'nose_tip_x'"):
        load_source(tmp_path / "bad.parquet")
    assert len(load_source(tmp_path / "bad.parquet", on_error="skip")) == len(dataset) - 1


def test_evaluate_skip_bad_rows_counts_them(tmp_path, capsys):
    from fkp import evaluate

    lines = kaggle_lines()
    lines[2] = with_field(lines[2], lines[0], "nose_tip_x", "500")
    path = write_lines(tmp_path / "training.csv", lines)
    status = run_cli(evaluate.main, ["--data", str(path), "--json"], prog="fkp evaluate")
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and "fkp evaluate: error: " in err and "field 'nose_tip_x'" in err
    assert run_cli(evaluate.main, ["--data", str(path), "--json", "--skip-bad-rows"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_skipped"] == 1 and metrics["n_images"] == len(lines) - 2 and metrics["rmse"] < 10


# --- every entry point: one line, no traceback ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["fkp.data", "convert", "{empty}", "{tmp}/out.parquet"],
        ["fkp.cli", "evaluate", "--data", "{empty}"],
        ["fkp.evaluate", "--data", "{empty}"],
        ["fkp.submit", "--test", "{empty}", "--lookup", "{empty}", "--out", "{tmp}/s.csv"],
        ["fkp.export", "{tmp}"],
        ["fkp.predict", "{tmp}", "--out", "{tmp}/r.jsonl"],
    ],
)
def test_module_forms_report_one_line(tmp_path, args):
    (tmp_path / "empty.csv").write_text("")
    argv = [a.format(empty=tmp_path / "empty.csv", tmp=tmp_path) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len([line for line in result.stderr.splitlines() if ": error: " in line]) == 1, result.stderr


# --- 9: fkp predict on special files ---------------------------------------------------------


def test_predict_skips_pipes_loops_and_missing_files_and_replaces_out(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "face.jpg").write_bytes((EXAMPLES / "grace_hopper.jpg").read_bytes())
    os.mkfifo(photos / "pipe.jpg")
    os.mkfifo(tmp_path / "named_pipe.jpg")
    os.mkfifo(photos / "pipe_not_an_image_name")  # not an image name: ignored, like notes.txt
    (photos / "loop.jpg").symlink_to("loop.jpg")
    out = tmp_path / "results.jsonl"
    out.write_text("earlier result\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fkp.cli",
            "predict",
            str(photos),
            str(tmp_path / "named_pipe.jpg"),
            str(tmp_path / "missing.jpg"),
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1, result.stderr  # some input could not be read
    assert "Traceback" not in result.stderr
    records = {Path(r["file"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {"face.jpg", "pipe.jpg", "loop.jpg", "named_pipe.jpg", "missing.jpg"}
    assert records["face.jpg"]["face"] == 1
    assert records["pipe.jpg"]["error"].endswith("it is a named pipe (FIFO), not a file")
    assert records["named_pipe.jpg"]["error"].endswith("it is a named pipe (FIFO), not a file")
    assert records["loop.jpg"]["error"].endswith("it is a symbolic link loop")
    assert records["missing.jpg"]["error"].endswith("there is no such file")
    assert "4 unreadable" in result.stderr and "skipped" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary file left


def test_failed_run_keeps_the_earlier_out_and_reports_inputs_first(tmp_path, capsys, monkeypatch):
    import fkp.landmarker
    from fkp import predict
    from fkp.errors import FkpError

    (tmp_path / "face.jpg").write_bytes((EXAMPLES / "grace_hopper.jpg").read_bytes())
    out = tmp_path / "results.jsonl"
    out.write_text("earlier result\n")

    def failing_model(*args, **kwargs):
        assert "skipped " in capsys.readouterr().err  # the missing file was reported before the model loads
        raise FkpError("no such model")

    monkeypatch.setattr(fkp.landmarker, "FaceKeypoints", failing_model)
    status = run_cli(predict.main, [str(tmp_path / "missing.jpg"), str(tmp_path / "face.jpg"), "--out", str(out)])
    assert status == 2 and "error: no such model" in capsys.readouterr().err
    assert out.read_text() == "earlier result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.jpg", "results.jsonl"]  # no temporary file left
    # nothing readable: the model is never loaded, the earlier file is kept, exit status 1
    (tmp_path / "dangling.jpg").symlink_to("nowhere.jpg")
    assert predict.main([str(tmp_path / "dangling.jpg"), "--out", str(out)]) == 1
    assert out.read_text() == "earlier result\n"
    assert "broken symbolic link" in capsys.readouterr().err
    # no image file at all is a usage error (2), not an empty result
    (tmp_path / "empty").mkdir()
    assert cli.main(["predict", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "no image files in" in capsys.readouterr().err and out.read_text() == "earlier result\n"


def test_permission_denied_has_its_own_reason(tmp_path, monkeypatch):
    from fkp import images, predict

    assert images._reason(PermissionError(errno.EACCES, "Permission denied")) == "permission denied"
    assert images._reason(OSError(errno.ELOOP, "Too many levels of symbolic links")) == "it is a symbolic link loop"
    assert images._reason(OSError(errno.EIO, "Input/output error")) == "the file is damaged or cut short"
    locked = tmp_path / "locked.jpg"
    locked.write_bytes((EXAMPLES / "grace_hopper.jpg").read_bytes())
    if os.geteuid() == 0:  # root reads a chmod 000 file: simulate the refusal where the photo is opened

        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(locked))

        monkeypatch.setattr(images.Image, "open", refuse)
    else:
        locked.chmod(0)
    [(_, image, _, records)] = list(predict.predict_files([locked], predictor=None))
    assert image is None and records[0]["error"] == "locked.jpg is not an image that can be read: permission denied"


def test_special_files_are_classified_without_opening(tmp_path):
    from fkp.predict import expand, file_problem

    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "loop.png").symlink_to("loop.png")
    (tmp_path / "photo.png").write_bytes(b"any bytes: the contents are read later")
    (tmp_path / "empty.png").write_bytes(b"")
    assert file_problem(tmp_path / "photo.png") is None
    assert file_problem(tmp_path / "empty.png") == "the file is empty"  # said before the model loads
    assert file_problem(Path("/dev/null")) == "it is a device, not a file"
    found = dict(expand([tmp_path]))
    assert found[tmp_path / "photo.png"] is None
    assert found[tmp_path / "empty.png"] == "empty.png is not an image that can be read: the file is empty"
    assert found[tmp_path / "pipe.png"].endswith("named pipe (FIFO), not a file")
    assert found[tmp_path / "loop.png"].endswith("symbolic link loop")


def png_header(width: int, height: int) -> bytes:
    """The first bytes of a PNG of that size: enough for its header, no pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", b"")
    )


def test_empty_and_too_large_files_are_named_as_such(tmp_path):
    import warnings

    from fkp.images import MAX_PIXELS, NotAnImageError, load_photo

    with pytest.raises(NotAnImageError, match="^upload is not an image that can be read: the file is empty$"):
        load_photo(b"")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(NotAnImageError, match="empty.jpg is not an image that can be read: the file is empty"):
        load_photo(tmp_path / "empty.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning
        with pytest.raises(NotAnImageError) as large:
            load_photo(png_header(13000, 13000))  # over MAX_PIXELS: refused by fkp from the header
        with pytest.raises(NotAnImageError) as huge:
            load_photo(png_header(20000, 20000))  # over twice MAX_PIXELS: refused by Pillow itself
    assert f"it has more than {MAX_PIXELS:,} pixels, the most fkp reads (13000x13000 = 169,000,000)" in str(large.value)
    assert f"it has more than {MAX_PIXELS:,} pixels, the most fkp reads (it has 400,000,000)" in str(huge.value)
    assert "JPEG, PNG or WebP" not in str(large.value) + str(huge.value)
