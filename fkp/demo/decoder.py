"""A clip's frames decoded in a child process, so that no video file can cost the server more than a
bounded amount of memory, CPU time or disk, whatever its codec stream holds:

- the child's address space is capped (VIDEO_DECODER_BYTES: a frame that needs more fails there, and
  the clip is reported as stopping at that frame), its CPU time too (the kernel ends it), and it may
  write no file;
- it reads the clip with `fkp.video.read_video`, checks each decoded frame's size and the frame count
  and time again (a header may lie), reduces frames to VIDEO_WORK_SIDE, and writes them to its standard
  output one at a time: the pipe holds at most one frame, so frames are streamed, never all held;
- the parent (`frames`) reads them as `DecodedFrame`s, ends the child when the caller stops, and kills
  it at the request's deadline if it stalls.

    python -m fkp.demo.decoder CLIP WORK_SIDE MAX_FRAMES MAX_SECONDS MAX_SIDE MAX_PIXELS MEMORY CPU_SECONDS
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import limits

# Each frame: index, time (s), original height and width, sent height and width; then its RGB bytes.
# An index of -1 ends the stream; a JSON trailer follows: {"frames", "error", "limit"}.
FRAME_HEADER = struct.Struct("<qdIIII")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class DecodeStopped(Exception):
    """The clip stopped before its end: ``frames`` frames were read; ``reason`` is "damaged" (the message
    says where and why), "frames", "seconds" or "size" (a limit reached while decoding: the header
    understated it), "budget" (the request's time ran out) or "cancelled" (the session ended)."""

    def __init__(self, message: str, frames: int, reason: str):
        super().__init__(message)
        self.frames, self.reason = frames, reason


@dataclass
class DecodedFrame:
    """A frame as analysed: ``rgb`` reduced to at most VIDEO_WORK_SIDE, ``scale`` (sx, sy) from its pixels
    to the original frame's (original = reduced * scale), ``size`` the original (width, height)."""

    index: int
    time: float
    rgb: np.ndarray
    scale: tuple[float, float]
    size: tuple[int, int]


def frames(clip: str | Path, deadline: float, name: str) -> Iterator[DecodedFrame]:
    """The frames of ``clip`` (a file whose header `fkp.demo.probe` accepted; its extension says how it is
    read), decoded in a child process. Raises DecodeStopped when the clip stops early, a limit is reached
    or ``deadline`` (time.monotonic) passes; closing the iterator early ends the child."""
    cpu_seconds = max(1, round(deadline - time.monotonic()) + 5)
    command = [
        sys.executable,
        "-m",
        "fkp.demo.decoder",
        str(clip),
        *map(str, (limits.VIDEO_WORK_SIDE, limits.VIDEO_MAX_FRAMES, limits.VIDEO_MAX_SECONDS)),
        *map(str, (limits.VIDEO_MAX_SIDE, limits.VIDEO_MAX_PIXELS, limits.VIDEO_DECODER_BYTES, cpu_seconds)),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
    env["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "protocol_whitelist;file"  # no network, no other protocol
    env["OPENCV_FFMPEG_THREADS"] = "2"  # FFmpeg's frame threads each hold frames: as many as cores by default
    child = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), child.kill)
    timer.daemon = True
    timer.start()
    count = 0
    try:
        stream = child.stdout
        while True:
            header = stream.read(FRAME_HEADER.size)
            if len(header) < FRAME_HEADER.size:
                break
            index, seconds, height, width, sent_height, sent_width = FRAME_HEADER.unpack(header)
            if index < 0:
                trailer = json.loads(stream.read(1 << 16) or b"{}")
                if trailer.get("error"):  # read_video names the file it was given: name the user's
                    message = str(trailer["error"]).replace(Path(clip).name, name)
                    raise DecodeStopped(message, count, trailer.get("limit") or "damaged")
                return
            side = limits.VIDEO_WORK_SIDE
            if not (0 < sent_width <= side and 0 < sent_height <= side):
                break
            data = stream.read(sent_height * sent_width * 3)
            if len(data) < sent_height * sent_width * 3:
                break
            rgb = np.frombuffer(data, np.uint8).reshape(sent_height, sent_width, 3)
            scale = (width / sent_width, height / sent_height)
            yield DecodedFrame(index, seconds, rgb, scale, (width, height))
            count += 1
        # the stream ended without its trailer: the child was killed or crashed
        if time.monotonic() >= deadline - 0.05:
            raise DecodeStopped(f"{name}: the time for one clip ran out", count, "budget")
        raise DecodeStopped(
            f"{name} stops at frame {count}: decoding it failed (damaged, or it needs more memory than one clip "
            "may use)",
            count,
            "damaged",
        )
    finally:
        timer.cancel()
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.wait()


def decode(argv: list[str]) -> int:
    """The child: bound itself, then stream the clip's frames to standard output (see the module's text)."""
    import resource

    path = argv[0]
    work_side, max_frames, max_seconds, max_side, max_pixels, memory, cpu = argv[1:8]
    resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu) + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # no file written (pipes are not files)
    import cv2

    from ..video import VideoError, read_video

    cv2.setNumThreads(1)
    out = sys.stdout.buffer
    name, sent, error, limit = Path(path).name, 0, None, None
    try:
        for frame in read_video(path):
            height, width = frame.rgb.shape[:2]
            if max(width, height) > int(max_side) or width * height > int(max_pixels):
                error, limit = f"frame {frame.index} is {width}x{height}, larger than its header said", "size"
                break
            if frame.index >= int(max_frames):
                error, limit = f"it has more than {max_frames} frames", "frames"
                break
            if frame.time > float(max_seconds):
                error, limit = f"it is longer than {float(max_seconds):g} seconds", "seconds"
                break
            rgb, reduce = frame.rgb, int(work_side) / max(width, height)
            if reduce < 1:
                size = (max(1, round(width * reduce)), max(1, round(height * reduce)))
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            rgb = np.ascontiguousarray(rgb)
            out.write(FRAME_HEADER.pack(frame.index, frame.time, height, width, *rgb.shape[:2]))
            out.write(rgb.data)
            sent += 1
    except VideoError as stopped:
        error = str(stopped)
    except MemoryError:
        error = f"{name} stops at frame {sent}: a frame needs more memory than one clip may use"
    except BrokenPipeError:
        return 0  # the parent stopped reading
    out.write(FRAME_HEADER.pack(-1, 0.0, 0, 0, 0, 0))
    out.write(json.dumps({"frames": sent, "error": error, "limit": limit}).encode())
    out.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(decode(sys.argv[1:]))
    except BrokenPipeError:
        sys.exit(0)
