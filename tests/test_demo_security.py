"""The demo attacked as a hostile user would (issue 15): raw HTTP where the attack needs it."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from benchmarks.demo_attacks import Stream, file_payload, jpeg_bytes, png_bytes, status_of, upload
from fkp.demo import guard, limits, results, storage
from fkp.images import load_photo

EXAMPLES = ROOT / "examples"


def data_url(data: bytes, kind: str = "image/jpeg") -> dict:
    import base64

    return {
        "url": f"data:{kind};base64,{base64.b64encode(data).decode()}",
        "path": None,
        "meta": {"_type": "gradio.FileData"},
    }


def peak_rss_during(fn) -> tuple[object, float]:
    """(fn's result, the process's peak RSS above its RSS at the start, in MB), from the kernel's
    high-water mark (reset through /proc/self/clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")

    def status(field):
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field))
        return int(line.split()[1]) / 1024

    start = status("VmRSS")
    result = fn()
    return result, status("VmHWM") - start


GOOD_FRAME = None


def good_frame() -> dict:
    global GOOD_FRAME
    if GOOD_FRAME is None:
        GOOD_FRAME = data_url(jpeg_bytes(load_photo(EXAMPLES / "grace_hopper.jpg")))
    return GOOD_FRAME


def test_stream_never_opens_a_server_file(server, app, tmp_path, monkeypatch):
    """Issue 15.1: a stream frame naming a server file, without "meta" (Gradio does not check it) and
    with it: the file is never opened, the status says the frame was skipped and the stream goes on."""
    secret = tmp_path / "server_only.png"
    secret.write_bytes((EXAMPLES / "grace_hopper.jpg").read_bytes())
    opened = []
    real = app.load_photo_reduced
    monkeypatch.setattr(
        app, "load_photo_reduced", lambda source, *a, **k: opened.append(source) or real(source, *a, **k)
    )
    stream = Stream(server)
    try:
        stream.join(file_payload(str(secret), meta=False))
        first = stream.first_output(timeout=60)
        assert "skipped" in status_of(first) and "did not arrive as an upload" in status_of(first)
        assert "server_only" not in str(first) and str(tmp_path) not in str(first)
        assert stream.send(good_frame()) == 200
        second = stream.first_output(timeout=60)
        assert "1 face" in status_of(second)  # the stream went on
    finally:
        stream.close()
    assert [o for o in opened if isinstance(o, str)] == []  # only the inline good frame was decoded
    # with "meta", Gradio's own check refuses it before our handler runs
    stream = Stream(server)
    try:
        stream.join(file_payload(str(secret), meta=True))
        answer = stream.first_output(timeout=60)
        assert answer is not None and answer.get("success") is False
    finally:
        stream.close()
    assert [o for o in opened if isinstance(o, str)] == []


def test_symlink_out_of_the_upload_folder_is_refused(tmp_path):
    """Issue 15.2: the upload-folder check resolves symbolic links."""
    from gradio.utils import get_upload_folder

    secret = tmp_path / "secret.png"
    secret.write_bytes((EXAMPLES / "grace_hopper.jpg").read_bytes())
    folder = Path(get_upload_folder()) / f"fkp-test-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "innocent.png"
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    try:
        with pytest.raises(results.InputError, match="did not arrive as an upload"):
            guard.received_file(str(link))
        real = folder / "real.png"
        real.write_bytes(secret.read_bytes())
        assert guard.received_file(str(real)) == real.resolve()  # a real upload is accepted
        assert guard.received_file(str(EXAMPLES / "grace_hopper.jpg")).name == "grace_hopper.jpg"
        for bad in (None, "", 7, ["x"], str(EXAMPLES / ".." / "README.md"), "/etc/passwd", "a\0b"):
            with pytest.raises(results.InputError):
                guard.received_file(bad)
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def test_abandoned_streams_free_their_slots_within_seconds(server, monkeypatch):
    """Issue 15.3: two clients join the stream and vanish without /close; a third stream starts
    within seconds, not after the 5-minute limit. (Clients are told apart by X-Forwarded-For, as
    behind a Space's proxy.)"""
    monkeypatch.setenv("FKP_TRUST_PROXY", "1")
    abandoned = []
    for number in range(limits.LIVE_STREAMS):
        stream = Stream(server, address=f"198.51.100.{number + 1}")
        stream.join(good_frame())
        assert "1 face" in status_of(stream.first_output(timeout=60))
        stream.abandon()
        abandoned.append(stream)
    started = time.monotonic()
    third = Stream(server, address="198.51.100.9")
    try:
        third.join(good_frame())
        answer = third.first_output(timeout=60)
        waited = time.monotonic() - started
    finally:
        third.close()
    assert "1 face" in status_of(answer)
    assert waited < limits.LIVE_IDLE_SECONDS + 10, f"the third stream waited {waited:.1f} s"


def test_bad_frames_are_reported_and_the_stream_goes_on(server):
    """Issue 15.5 and 15.4 (stream frames): garbage, a truncated JPEG, a bad data URL and a
    16000x16000 PNG (refused from its header, never decoded) each get a status; then a good frame
    is still tracked."""
    huge = png_bytes(16000, 16000)
    truncated = jpeg_bytes(load_photo(EXAMPLES / "grace_hopper.jpg"))[:2000]
    bad = [
        data_url(b"not an image at all"),
        data_url(truncated),
        {"url": "data:image/png;base64,@@@", "meta": {"_type": "gradio.FileData"}},
        data_url(huge, "image/png"),
        {"path": "/etc/passwd"},
    ]
    stream = Stream(server)
    try:
        stream.join(bad[0])
        statuses = [status_of(stream.first_output(timeout=60))]
        for frame in bad[1:]:
            assert stream.send(frame) == 200
            statuses.append(status_of(stream.first_output(timeout=60)))
        assert stream.send(good_frame()) == 200
        last = status_of(stream.first_output(timeout=60))
    finally:
        stream.close()
    assert all("skipped" in status and "goes on" in status for status in statuses), statuses
    assert "pixels" in statuses[3] and "16000x16000" in statuses[3] and "did not arrive as an upload" in statuses[4]
    assert not any("Traceback" in s or "passwd" in s for s in statuses)
    assert "1 face" in last


def test_memory_bombs_are_refused_or_reduced_within_1_gb(app, tmp_path):
    """Issue 15.4: a 16-bit and an 8-bit 12000x12000 PNG (300 KB files) are refused from their
    header; an 8192x9600 JPEG is reduced while decoding and its coordinates stay in original pixels.
    Peak memory per request stays far under 1 GB (measured on this process, where the demo runs)."""
    for bits in (16, 8):
        path = tmp_path / f"bomb{bits}.png"
        path.write_bytes(png_bytes(12000, 12000, bits))
        with pytest.raises(
            results.InputError, match=r"too large to read here: 12000x12000 is 144 megapixels"
        ) as raised:
            _, peak = peak_rss_during(lambda: app.analyse(str(path)))
        assert "JPEG" in str(raised.value) and str(tmp_path) not in str(raised.value)
    _, peak = peak_rss_during(lambda: pytest.raises(results.InputError, app.analyse, str(path)))
    assert peak < 100, f"refusing a PNG bomb took {peak:.0f} MB"

    photo = load_photo(EXAMPLES / "grace_hopper.jpg")  # 512x600
    big = np.asarray(Image.fromarray(photo).resize((512 * 16, 600 * 16)))  # 8192x9600, 79 megapixels
    path = tmp_path / "big.jpg"
    Image.fromarray(big).save(path, quality=80)
    del big
    result, peak = peak_rss_during(lambda: app.analyse(str(path)))
    status, *_, payload, _files, state = result
    assert "1 face found" in status and "1/2 size" in status and payload["width"] == 8192 and payload["height"] == 9600
    assert peak < 1024, f"peak {peak:.0f} MB"
    eye = payload["faces"][0]["keypoints"]["left_eye_center"]
    small = app.analyse(str(EXAMPLES / "grace_hopper.jpg"))[6]["faces"][0]["keypoints"]["left_eye_center"]
    assert (
        abs((eye["x"] + 0.5) / 16 - 0.5 - small["x"]) < 2 and abs((eye["y"] + 0.5) / 16 - 0.5 - small["y"]) < 2
    )  # original pixels


def test_url_payloads_are_refused_before_gradio_reads_them(server):
    """Issue 15.6: Gradio would try to download a file payload that names a URL, leaving a cache
    folder behind for each; the gate refuses them first, so none is made."""
    import httpx

    cache = storage.gradio_cache()
    before = {p for p in cache.iterdir() if p.is_dir()} if cache.exists() else set()
    for index, scheme in enumerate(["http://127.0.0.1:9", "https://example.org", "file://", "ftp://x"]):
        payload = {
            "path": f"{scheme}/{index}.png",
            "url": f"{scheme}/{index}.png",
            "meta": {"_type": "gradio.FileData"},
        }
        answer = httpx.post(f"{server}gradio_api/call/predict", json={"data": [payload, False, False]}, timeout=60)
        assert answer.status_code == 400 and "uploads, not as addresses" in answer.text
    after = {p for p in cache.iterdir() if p.is_dir()}
    assert after - before == set()


def test_gate_bounds_bodies_queue_share_streams_and_uploads(server, monkeypatch):
    """The attacker's cheap denials of service: a huge JSON body, one address filling the queue or
    holding every webcam slot, a flood of uploads."""
    import httpx

    from fkp.demo import limits as bounds

    monkeypatch.setattr(bounds, "MAX_BODY_BYTES", 2**20)
    big = {
        "data": [{"url": "data:image/png;base64," + "A" * 2**21, "meta": {"_type": "gradio.FileData"}}, False, False]
    }
    answer = httpx.post(f"{server}gradio_api/queue/join", json={**big, "fn_index": 1, "session_hash": "x"}, timeout=60)
    assert answer.status_code == 413 and "larger than 1 MB" in answer.text
    monkeypatch.setenv("FKP_TRUST_PROXY", "1")
    first = Stream(server, address="203.0.113.5")
    second = Stream(server, address="203.0.113.5")
    other = Stream(server, address="203.0.113.6")
    try:
        first.join(good_frame())
        assert "1 face" in status_of(first.first_output(timeout=60))
        with pytest.raises(httpx.HTTPStatusError) as refused:
            second.join(good_frame())
        assert refused.value.response.status_code == 429 and "webcam stream open" in refused.value.response.text
        other.join(good_frame())  # another address still gets the other slot
        assert "1 face" in status_of(other.first_output(timeout=60))
    finally:
        for stream in (first, second, other):
            stream.close()
    monkeypatch.setattr(bounds, "EVENTS_PER_CLIENT", 0)
    answer = httpx.post(
        f"{server}gradio_api/queue/join",
        json={"data": [None, False, False], "fn_index": 1, "session_hash": "y"},
        timeout=60,
    )
    assert answer.status_code == 429 and "requests waiting or running" in answer.text
    monkeypatch.setattr(bounds, "UPLOADS_PER_MINUTE", 2)
    codes = [
        httpx.post(
            f"{server}gradio_api/upload",
            files={"files": ("a.png", b"x")},
            timeout=60,
            headers={"X-Forwarded-For": "203.0.113.7"},
        ).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]


def test_decoding_bombs_are_refused_from_the_header(app):
    handlers = app
    """An ICO or ICNS decodes its embedded image while Pillow opens it; a JPEG of thousands of scans
    decodes for minutes; a progressive JPEG keeps full-size coefficients whatever the reduction."""
    import io

    from fkp.images import MAX_JPEG_SCANS

    def image_bytes(size, format, **options):
        buffer = io.BytesIO()
        Image.new("RGB", size, (120, 110, 100)).save(buffer, format, **options)
        return buffer.getvalue()

    ico = image_bytes((64, 64), "ICO")
    progressive = image_bytes((1000, 800), "JPEG", progressive=True)
    scans = [i for i in range(len(progressive) - 1) if progressive[i : i + 2] == b"\xff\xda"]
    many_scans = progressive[:-2] + progressive[scans[1] : scans[2]] * (MAX_JPEG_SCANS + 1) + progressive[-2:]
    huge_progressive = image_bytes((7000, 6000), "JPEG", progressive=True)
    for data, reason in [
        (ico, "not a known image format"),
        (many_scans, f"more than {MAX_JPEG_SCANS} scans"),
        (huge_progressive, "progressive JPEG images are read up to 40 megapixels"),
    ]:
        started = time.monotonic()
        (_, peak) = peak_rss_during(lambda data=data: pytest.raises(results.InputError, handlers.analyse, data))
        assert time.monotonic() - started < 5 and peak < 200, (reason, peak)
        with pytest.raises(results.InputError, match=reason):
            handlers.analyse(data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_is_left_on_disk_after_sigterm(tmp_path):
    """Issue 15.6: `python app.py` stopped with SIGTERM (what a Space or systemd sends) deletes its
    downloads, Gradio's cached files and their folders."""
    from gradio_client import Client, handle_file

    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(temp / "gradio"), "GRADIO_SERVER_PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                client = Client(url, verbose=False, download_files=False)
                break
            except Exception:
                time.sleep(1)
        else:
            pytest.fail("the demo did not start")
        status = client.predict(handle_file(str(EXAMPLES / "two_faces.jpg")), False, False, api_name="/predict")[0]
        assert "2 faces found" in status
        uploaded = upload(url, (EXAMPLES / "grace_hopper.jpg").read_bytes(), "grace.jpg")
        assert Path(uploaded).is_relative_to(temp)
        files = [p for p in temp.rglob("*") if p.is_file()]
        assert files, "the server wrote nothing where it was told to"
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    assert server.returncode is not None
    left = sorted(
        str(p.relative_to(temp)) for p in temp.rglob("*") if p.is_file() or (p.is_dir() and not any(p.iterdir()))
    )
    # the (empty) cache root may stay; ".ses" is a marker some library keeps in $TMPDIR, not the demo's
    left = [p for p in left if p not in ("gradio", ".ses")]
    assert left == [], (left, output[-2000:])
