"""Video files in and out: frames read one at a time (OpenCV's FFmpeg backend; animated GIFs with
Pillow), each with its index and time, and annotated videos written as VP9 in WebM, which browsers play
(OpenCV's FFmpeg build has no H.264 encoder, but has VP9), to a temporary name first.

    for frame in read_video("clip.mp4"):   # Frame(index, time, rgb); raises VideoError where it stops
        ...
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import FkpError

VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".avi", ".mkv"}
ANNOTATED_SUFFIX = ".webm"  # VP9 in WebM
ANNOTATED_FOURCC = "VP90"


class VideoError(Exception):
    """A video that cannot be opened, or that stops early; ``frames`` is how many frames were read."""

    def __init__(self, message: str, frames: int = 0):
        super().__init__(message)
        self.frames = frames


@dataclass
class Frame:
    """One video frame: its index from 0, its time in seconds and the (H, W, 3) RGB uint8 picture."""

    index: int
    time: float
    rgb: np.ndarray


def is_animated_gif(path: str | Path) -> bool:
    """Whether ``path`` is a GIF with more than one frame (False for anything Pillow cannot open)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.format == "GIF" and bool(getattr(image, "is_animated", False))
    except Exception:  # noqa: BLE001 - an unreadable file is not a video; the photo path reports it
        return False


def is_video(path: str | Path) -> bool:
    """Whether ``path`` is read as a video: by its extension (mp4, mov, webm, avi, mkv), or an animated GIF."""
    suffix = Path(path).suffix.lower()
    return suffix in VIDEO_SUFFIXES or (suffix == ".gif" and is_animated_gif(path))


def video_info(path: str | Path) -> tuple[float, int]:
    """(frames per second, frame count) as a video's header gives them (0.0 / 0 where it does not);
    for an animated GIF, from its first frame's duration and its frame count."""
    if Path(path).suffix.lower() == ".gif":
        from PIL import Image

        try:
            with Image.open(path) as image:
                return 1000.0 / (image.info.get("duration") or 100), int(getattr(image, "n_frames", 1))
        except Exception:  # noqa: BLE001 - read_video reports what is wrong with the file
            return 0.0, 0
    capture = _capture(path)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT) if capture.isOpened() else 0
    finally:
        capture.release()
    fps = float(fps) if np.isfinite(fps) and fps > 0 else 0.0
    return fps, int(count) if np.isfinite(count) and count > 0 else 0


def read_video(path: str | Path) -> Iterator[Frame]:
    """The frames of a video file or an animated GIF, in order. Raises `VideoError` (with the number of
    frames read) when the file cannot be opened, or ends before the frame count its header gives
    (a truncated or damaged file): the frames before that were yielded."""
    if Path(path).suffix.lower() == ".gif":
        yield from _read_gif(path)
        return
    name = Path(path).name
    capture = _capture(path)
    try:
        if not capture.isOpened():
            raise VideoError(f"{name} is not a video that can be read: it cannot be opened (damaged or truncated?)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        fps = fps if np.isfinite(fps) and fps > 0 else 0.0
        expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok or bgr is None:
                break
            milliseconds = capture.get(cv2.CAP_PROP_POS_MSEC)
            seconds = index / fps if fps else 0.0
            if np.isfinite(milliseconds) and milliseconds >= 0 and (index == 0 or milliseconds > 0):
                seconds = milliseconds / 1000.0
            yield Frame(index, seconds, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise VideoError(f"{name} is not a video that can be read: no frame could be decoded", 0)
    # (the count in a header can be an estimate from the duration, which may round up by one frame)
    if expected > index + 1:
        raise VideoError(f"{name} stops at frame {index} of {expected} (truncated or damaged)", index)


def _capture(path: str | Path) -> cv2.VideoCapture:
    """OpenCV's FFmpeg reader of ``path``, opened without OpenCV's own warnings (a file it cannot open
    gets two lines about its backends; `read_video` says what is wrong in plain words)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(min(level, cv2.utils.logging.LOG_LEVEL_ERROR))
    try:
        return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    finally:
        cv2.utils.logging.setLogLevel(level)


def _read_gif(path: str | Path) -> Iterator[Frame]:
    from PIL import Image, ImageSequence

    name, index, seconds = Path(path).name, 0, 0.0
    try:
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                rgb = np.asarray(frame.convert("RGB"))
                yield Frame(index, seconds, rgb)
                seconds += (frame.info.get("duration") or 100) / 1000.0
                index += 1
    except (OSError, EOFError, ValueError, SyntaxError) as error:
        if index == 0:
            raise VideoError(f"{name} is not a video that can be read: {error}") from None
        raise VideoError(f"{name} stops at frame {index} (truncated or damaged: {error})", index) from None


class VideoWriter:
    """An annotated video: RGB frames encoded as VP9 in WebM (a subclass may choose another ``fourcc``)
    into a temporary file beside ``target``, which `commit` moves into place (`discard` removes it).
    Frames are cropped to even sizes (4:2:0). OpenCV prints a harmless line on opening the encoder
    ("tag ... is not supported with codec id ... webm"): WebM has no codec tags, and it finds the codec."""

    fourcc = ANNOTATED_FOURCC

    def __init__(self, target: str | Path, fps: float, size: tuple[int, int]):
        self.target = Path(target)
        width, height = size[0] - size[0] % 2, size[1] - size[1] % 2
        self.size = (max(width, 2), max(height, 2))
        handle, self.temporary = tempfile.mkstemp(
            dir=self.target.parent, prefix=f".{self.target.stem}.", suffix=ANNOTATED_SUFFIX
        )
        os.close(handle)
        self.writer = cv2.VideoWriter(
            self.temporary, cv2.VideoWriter_fourcc(*self.fourcc), max(float(fps), 1.0), self.size
        )
        if not self.writer.isOpened():
            os.unlink(self.temporary)
            raise FkpError(f"cannot write the annotated video {self.target}: OpenCV has no {self.fourcc} encoder here")

    def write(self, rgb: np.ndarray) -> None:
        width, height = self.size
        frame = np.zeros((height, width, 3), np.uint8)
        part = rgb[:height, :width]
        frame[: part.shape[0], : part.shape[1]] = part
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def commit(self) -> None:
        """Finish the file and move it to ``target``."""
        self.writer.release()
        os.chmod(self.temporary, 0o666 & ~_umask())
        os.replace(self.temporary, self.target)

    def discard(self) -> None:
        self.writer.release()
        if os.path.exists(self.temporary):
            os.unlink(self.temporary)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
