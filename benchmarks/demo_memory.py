"""What hostile or heavy requests cost the demo server: peak memory per request, growth over many
fresh sessions, and how long a webcam stream waits after two abandoned ones.

    python benchmarks/demo_memory.py [--sessions 30] [--idle 60]

The server is `python app.py` in a subprocess; its memory is read from /proc: the peak of a request
is the kernel's high-water mark of resident memory (VmHWM, reset before each request through
/proc/PID/clear_refs) minus the resident memory just before it.

1. Photos sent to /predict with gradio_client: a single-colour 16-bit 12000x12000 PNG (300 KB on the
   wire), the same in 8 bits, a 12000x12000 JPEG, and a real 4096x4800 photo.
2. A 16000x16000 PNG sent as a webcam stream frame (raw HTTP).
3. `--sessions` requests of the 4096x4800 photo, each from a new client (a new session): resident
   memory before, after, and after `--idle` seconds without requests.
4. Two streams joined and dropped without /close, then a third: how long until its first frame is
   answered.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.demo_attacks import Stream, jpeg_bytes, png_bytes, status_of  # noqa: E402

EXAMPLES = ROOT / "examples"


_ADDRESSES = iter(f"198.18.{n // 250}.{n % 250 + 1}" for n in range(60_000))


def next_address() -> str:
    """A new client address for each client, as behind a Space's proxy: the server gives each
    address its own share of the queue and of the upload rate (fkp.demo.gate)."""
    return next(_ADDRESSES)


def progressive_jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 120, 110)).save(buffer, "JPEG", progressive=True, subsampling=0)
    return buffer.getvalue()


def ico_bytes(side: int) -> bytes:
    """An ICO file holding one PNG of side x side pixels (Pillow decodes it while opening the ICO)."""
    png = png_bytes(side, side)
    header = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22)
    return header + png


def memory_mb(pid: int, field: str) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def peak_during(pid: int, fn) -> tuple[object, float, float]:
    """(fn's result, peak resident memory above the start in MB, seconds)."""
    time.sleep(0.5)
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    start, began = memory_mb(pid, "VmRSS"), time.perf_counter()
    try:
        result = fn()
    except Exception as error:  # a refused request is a result too
        result = error
    return result, memory_mb(pid, "VmHWM") - start, time.perf_counter() - began


def start_server(temp: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "FKP_TRUST_PROXY": "1",  # each client below comes from its own address (X-Forwarded-For)
        "TMPDIR": str(temp),
        "GRADIO_TEMP_DIR": str(temp / "gradio"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    server = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    from gradio_client import Client

    for _ in range(180):
        try:
            Client(url, verbose=False, headers={"X-Forwarded-For": next_address()})
            return server, url
        except Exception:
            time.sleep(1)
    server.kill()
    raise SystemExit("the demo did not start")


def describe(result) -> str:
    if isinstance(result, Exception):
        return "refused: " + str(result).splitlines()[0][:110]
    return str(result[0]).replace("\n", " ")[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds to wait before the last memory reading")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    temp = Path(tempfile.mkdtemp(prefix="fkp-bench-"))
    files = temp / "inputs"
    files.mkdir()
    photo = np.asarray(Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB"))
    inputs = {
        "16-bit 12000x12000 PNG": ("bomb16.png", png_bytes(12000, 12000, 16)),
        "8-bit 12000x12000 PNG": ("bomb8.png", png_bytes(12000, 12000, 8)),
        "12000x12000 JPEG": ("huge.jpg", jpeg_bytes(np.full((12000, 12000, 3), 128, np.uint8))),
        "12000x12000 progressive JPEG": ("progressive.jpg", progressive_jpeg(12000, 12000)),
        "10000x10000 PNG inside an ICO": ("bomb.ico", ico_bytes(10000)),
        "4096x4800 photo (JPEG)": (
            "large.jpg",
            jpeg_bytes(np.asarray(Image.fromarray(photo).resize((4096, 4800))), 90),
        ),
    }
    for name, data in inputs.values():
        (files / name).write_bytes(data)
    server, url = start_server(temp)
    pid = server.pid
    try:
        print(f"server RSS at start: {memory_mb(pid, 'VmRSS'):.0f} MB\n")
        print("| request | on the wire | peak above the start | time | answer |\n|---|---|---|---|---|")
        for label, (name, data) in inputs.items():
            client = Client(url, verbose=False, download_files=False, headers={"X-Forwarded-For": next_address()})
            result, peak, seconds = peak_during(
                pid, lambda: client.predict(handle_file(str(files / name)), False, False, api_name="/predict")
            )
            print(f"| {label} | {len(data) / 1e6:.1f} MB | **{peak:.0f} MB** | {seconds:.1f} s | {describe(result)} |")

        frame = {
            "url": "data:image/png;base64," + base64.b64encode(png_bytes(16000, 16000)).decode(),
            "meta": {"_type": "gradio.FileData"},
        }

        def one_frame():
            stream = Stream(url, address=next_address())
            try:
                stream.join(frame)
                return [status_of(stream.first_output(timeout=120))]
            finally:
                stream.close()

        result, peak, seconds = peak_during(pid, one_frame)
        print(
            f"| 16000x16000 PNG as a webcam frame | {len(frame['url']) / 1e6:.1f} MB | **{peak:.0f} MB** "
            f"| {seconds:.1f} s | {describe(result)} |"
        )

        large = files / "large.jpg"
        for _ in range(3):  # warm-up: the first requests build caches that stay
            Client(url, verbose=False, download_files=False, headers={"X-Forwarded-For": next_address()}).predict(
                handle_file(str(large)), False, False, api_name="/predict"
            )
        before = memory_mb(pid, "VmRSS")
        for _ in range(args.sessions):
            Client(url, verbose=False, download_files=False, headers={"X-Forwarded-For": next_address()}).predict(
                handle_file(str(large)), False, False, api_name="/predict"
            )
        after = memory_mb(pid, "VmRSS")
        time.sleep(args.idle)
        idle = memory_mb(pid, "VmRSS")
        print(
            f"\n{args.sessions} fresh sessions with a 4096x4800 photo: RSS {before:.0f} -> {after:.0f} MB "
            f"(**{after - before:+.0f} MB**), {idle:.0f} MB after {args.idle:.0f} s idle ({idle - before:+.0f} MB)"
        )

        good = {
            "url": "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(photo)).decode(),
            "meta": {"_type": "gradio.FileData"},
        }
        for _ in range(2):
            stream = Stream(url, address=next_address())
            stream.join(good)
            stream.first_output(timeout=60)
            stream.abandon()
        began = time.monotonic()
        third = Stream(url, address=next_address())
        third.join(good)
        answer = status_of(third.first_output(timeout=400))
        waited = time.monotonic() - began
        third.close()
        print(
            f"a third webcam stream after two abandoned ones: first frame answered after **{waited:.1f} s** ({answer})"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    left = [p for p in (temp / "gradio").rglob("*")] if (temp / "gradio").exists() else []
    print(
        f"left in the server's temporary folders after SIGTERM: {len(left)} entries "
        f"({len([p for p in temp.iterdir() if p.name not in ('inputs', 'gradio', '.ses')])} other)"
    )


if __name__ == "__main__":
    main()
