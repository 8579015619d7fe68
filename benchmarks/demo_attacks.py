"""An attacker's toolkit against the demo server, over raw HTTP (what a browser or gradio_client
would never send): used by tests/test_demo_security.py and benchmarks/demo_memory.py.

Gradio's queue protocol: POST /gradio_api/queue/join with the event's fn_index and a session hash,
then read the session's Server-Sent Events from GET /gradio_api/queue/data. A stream event gets
its next frames from POST /gradio_api/stream/{event_id} and ends with .../close.
"""

from __future__ import annotations

import io
import json
import struct
import time
import uuid
import zlib
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def stream_fn_index(url: str, elem_id: str = "camera") -> tuple[int, int]:
    """(fn_index, trigger id) of the stream event of the component with ``elem_id``."""
    config = httpx.get(f"{url}config", timeout=30).json()
    component = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    for index, dependency in enumerate(config["dependencies"]):
        if [component, "stream"] in [list(t) for t in dependency["targets"]]:
            return dependency.get("id", index), component
    raise LookupError(f"no stream event on #{elem_id}")


def upload(url: str, data: bytes, name: str = "frame.png") -> str:
    """Upload bytes the way the browser does; returns the server path Gradio gives them."""
    answer = httpx.post(f"{url}gradio_api/upload", files={"files": (name, data)}, timeout=120)
    answer.raise_for_status()
    return answer.json()[0]


def file_payload(path: str, meta: bool = True) -> dict:
    """An image input's payload naming ``path``; without "meta" Gradio does not check the path."""
    payload = {"path": path, "orig_name": Path(path).name}
    return {**payload, "meta": {"_type": "gradio.FileData"}} if meta else payload


class Stream:
    """One webcam stream joined over raw HTTP: `join` with a first frame, `send` more, read the
    answers with `messages`, and either `close` it properly or `abandon` it (drop the connection)."""

    def __init__(self, url: str, elem_id: str = "camera", address: str | None = None):
        """``address``: sent as X-Forwarded-For, to play another client behind a trusted proxy."""
        self.url, self.session = url, uuid.uuid4().hex[:11]
        self.fn_index, self.trigger = stream_fn_index(url, elem_id)
        headers = {"X-Forwarded-For": address} if address else {}
        self.client = httpx.Client(timeout=httpx.Timeout(30, read=None), headers=headers)
        self.event_id: str | None = None
        self._events = None
        self._response = None

    def body(self, frame: dict) -> dict:
        """The queue's request body carrying one frame for this stream's event and session."""
        return {
            "data": [frame, None],
            "fn_index": self.fn_index,
            "trigger_id": self.trigger,
            "session_hash": self.session,
            "event_data": None,
        }

    def join(self, frame: dict) -> str:
        answer = self.client.post(f"{self.url}gradio_api/queue/join", json=self.body(frame))
        answer.raise_for_status()
        self.event_id = answer.json()["event_id"]
        return self.event_id

    def send(self, frame: dict) -> int:
        return self.client.post(f"{self.url}gradio_api/stream/{self.event_id}", json=self.body(frame)).status_code

    def messages(self, timeout: float = 60.0):
        """Yield the session's queue messages (dicts) as they arrive, for up to ``timeout`` seconds."""
        if self._events is None:
            self._response = self.client.stream(
                "GET", f"{self.url}gradio_api/queue/data", params={"session_hash": self.session}
            )
            self._events = self._response.__enter__().iter_lines()
        deadline = time.monotonic() + timeout
        for line in self._events:
            if line.startswith("data:"):
                yield json.loads(line[5:])
            if time.monotonic() > deadline:
                return

    def first_output(self, timeout: float = 60.0) -> dict | None:
        """The first message that carries the handler's output (or its error)."""
        for message in self.messages(timeout):
            if message.get("msg") in ("process_streaming", "process_generating", "process_completed"):
                return message
        return None

    def close(self) -> None:
        if self.event_id:
            self.client.post(f"{self.url}gradio_api/stream/{self.event_id}/close")
        self.abandon()

    def abandon(self) -> None:
        """Drop the connection without telling the server (a closed laptop, a lost network)."""
        if self._response is not None:
            self._response.__exit__(None, None, None)
            self._response = self._events = None
        self.client.close()


def status_of(message: dict | None) -> str:
    """The live status text in a stream output message ("" when there is none)."""
    if not message or not message.get("output"):
        return ""
    data = message["output"].get("data") or []
    texts = [d for d in data if isinstance(d, str)]
    return texts[0] if texts else json.dumps(message["output"])[:300]


def png_bytes(width: int, height: int, bits: int = 8, color: int = 128) -> bytes:
    """A single-colour PNG (8-bit RGB or 16-bit grayscale): a few hundred KB on the wire,
    ``width * height`` pixels to decode. Written row by row, so making it takes little memory."""
    channels, depth, kind = (1, 2, 0) if bits == 16 else (3, 1, 2)
    row = b"\0" + (color * 257).to_bytes(2, "big") * width if bits == 16 else b"\0" + bytes([color]) * (3 * width)
    assert len(row) == 1 + width * channels * depth
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row) for _ in range(height)]
    data = b"".join(chunks) + compressor.flush()

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bits, kind, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def jpeg_bytes(photo: np.ndarray, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# Clips for the Video tab: real ones made with OpenCV, and hostile ones patched from them.


def clip_bytes(
    frames: int = 12, size: tuple[int, int] = (320, 174), fourcc: str = "MJPG", suffix: str = ".avi", fps: float = 10
) -> bytes:
    """A short real clip of examples/two_faces.jpg drifting right by 2 px a frame, as bytes."""
    import tempfile

    import cv2

    photo = cv2.imread(str(Path(__file__).resolve().parents[1] / "examples" / "two_faces.jpg"))
    scale = size[0] / photo.shape[1]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"clip{suffix}"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        for index in range(frames):
            writer.write(cv2.warpAffine(photo, np.float32([[scale, 0, 2 * index], [0, scale, 0]]), size))
        writer.release()
        return path.read_bytes()


def avi_claiming(data: bytes, width: int | None = None, height: int | None = None, frames: int | None = None) -> bytes:
    """An AVI whose headers (main header, video stream header and format) claim another frame size or
    frame count than its frames have."""
    data = bytearray(data)
    main, stream, form = data.find(b"avih") + 8, data.find(b"strh") + 8, data.find(b"strf") + 8
    if frames is not None:
        struct.pack_into("<I", data, main + 16, frames)
        struct.pack_into("<I", data, stream + 32, frames)
    if width is not None:
        struct.pack_into("<I", data, main + 32, width)
        struct.pack_into("<i", data, form + 4, width)
    if height is not None:
        struct.pack_into("<I", data, main + 36, height)
        struct.pack_into("<i", data, form + 8, height)
    return bytes(data)


def mp4_claiming(data: bytes, width: int | None = None, height: int | None = None, frames: int | None = None) -> bytes:
    """An MP4 whose sample description (frame size) or sample table (frame count) claims other values."""
    data = bytearray(data)
    entry, sizes = data.find(b"stsd") + 4, data.find(b"stsz") + 4
    if width is not None or height is not None:
        old_width, old_height = struct.unpack_from(">HH", data, entry + 40)
        struct.pack_into(">HH", data, entry + 40, width or old_width, height or old_height)
    if frames is not None:
        struct.pack_into(">I", data, sizes + 8, frames)
    return bytes(data)


def mjpeg_frame_bomb(side: int = 16000, frames: int = 3) -> bytes:
    """An MJPEG AVI of a few hundred bytes a frame whose headers say 64x36 but whose JPEG frames each say
    ``side`` x ``side``: decoding one means a frame of side² pixels (16000: 768 MB as RGB)."""
    data = bytearray(clip_bytes(frames, (64, 36)))
    start = 0
    while (marker := data.find(b"\xff\xc0", start)) >= 0:  # each frame's SOF0: length, precision, height, width
        struct.pack_into(">HH", data, marker + 5, side, side)
        start = marker + 9
    return bytes(data)


def gif_bytes(frames: int, size: tuple[int, int] = (8, 8)) -> bytes:
    """An animated GIF of ``frames`` tiny distinct frames (a few dozen bytes each)."""
    images = [Image.new("L", size, color=index % 256) for index in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return buffer.getvalue()


def gif_claiming(width: int, height: int) -> bytes:
    """A two-frame GIF whose logical screen says ``width`` x ``height`` (a 65535x65535 screen is 4.3
    gigapixels to composite frames onto)."""
    data = bytearray(gif_bytes(2))
    struct.pack_into("<HH", data, 6, width, height)
    return bytes(data)


def join(url: str, fn_index: int, data: list, session: str | None = None, address: str | None = None) -> httpx.Response:
    """Join an event of the queue over raw HTTP (what the page does for each event), optionally as another
    address behind a trusted proxy."""
    body = {"data": data, "fn_index": fn_index, "session_hash": session or uuid.uuid4().hex[:11], "event_data": None}
    headers = {"X-Forwarded-For": address} if address else {}
    return httpx.post(f"{url}gradio_api/queue/join", json=body, headers=headers, timeout=30)


def event_fn_index(url: str, elem_id: str, trigger: str = "change") -> int:
    """The fn_index of the ``trigger`` event of the component with ``elem_id``."""
    config = httpx.get(f"{url}config", timeout=30).json()
    component = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    for index, dependency in enumerate(config["dependencies"]):
        if [component, trigger] in [list(t) for t in dependency["targets"]]:
            return dependency.get("id", index)
    raise LookupError(f"no {trigger} event on #{elem_id}")


def completed(url: str, session: str, timeout: float = 120.0) -> dict | None:
    """The "process_completed" message of a session's event, read from the queue's Server-Sent Events."""
    deadline = time.monotonic() + timeout
    with httpx.stream(
        "GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=httpx.Timeout(30, read=timeout)
    ) as answer:
        for line in answer.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
            if time.monotonic() > deadline:
                break
    return None
