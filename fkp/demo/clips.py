"""One clip through the Video tab: its frames (decoded in a bounded child process) followed by the
tracker, drawn into an annotated WebM, and written frame by frame as JSON lines and CSV rows (the lines
of `fkp predict`, `fkp.records`); each track's keypoints kept for the plot. No Gradio: the handlers
check the request, call `analyse_clip`, and word the result (`results`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..keypoints import KEYPOINT_NAMES
from ..pipeline import in_original_pixels, reading_order
from ..records import face_lines, write_csv
from ..render import draw_faces
from ..shipped import model_label
from ..tracking import LiveTracker
from ..video import VideoWriter
from . import limits
from .decoder import DecodeStopped, frames
from .probe import ClipHeader

# VP8, not fkp.video's VP9: OpenCV's FFmpeg build encodes VP8 about 6x faster (18 against 113 ms for a
# 640x346 frame on this machine; its VP9 speed options are not passed on), and every current browser
# plays both in WebM.
FOURCC = "VP80"


class Vp8Writer(VideoWriter):
    """`fkp.video.VideoWriter` (temporary file, even frame sizes, commit / discard) encoding VP8."""

    fourcc = FOURCC


@dataclass
class TrackPoints:
    """One face across the clip, for the plot: its frames' times and keypoints (original pixels)."""

    times: list[float] = field(default_factory=list)
    points: list[np.ndarray] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.times)


@dataclass
class ClipResult:
    """What one clip gave: the files (annotated WebM, JSON lines, CSV), the frames analysed, the tracks,
    the original frame size, the size the frames were analysed at, and where and why it stopped early
    (``stopped``: None, or DecodeStopped)."""

    annotated: Path | None
    jsonl: Path
    csv: Path
    frames: int
    faces: int
    tracks: dict[int, TrackPoints]
    size: tuple[int, int]
    work_size: tuple[int, int]
    seconds: float
    stopped: DecodeStopped | None = None


def frame_rate(header: ClipHeader) -> float:
    """The annotated clip's frame rate, from the header (frames / duration), 25 where it does not say."""
    if header.frames and header.seconds > 0:
        return float(np.clip(header.frames / header.seconds, 1.0, 120.0))
    return 25.0


def analyse_clip(
    clip: Path,
    name: str,
    header: ClipHeader,
    folder: Path,
    predictor,
    detector,
    deadline: float,
    progress: Callable[[int, int], None] | None = None,
) -> ClipResult:
    """Follow the faces of ``clip`` (readable under its extension: see `decoder.frames`) and write the
    results into ``folder``, named after ``name`` (the user's file name: the lines say it, never a
    server path). Stops, keeping what was done, where the clip stops or ``deadline`` passes; stops at
    once, freeing its slot, when ``folder`` is deleted (the session ended: `storage.end_session`)."""
    stem = Path(name).stem or "clip"
    annotated, jsonl, table = (folder / f"{stem}_keypoints{suffix}" for suffix in (".webm", ".jsonl", ".csv"))
    tracker = LiveTracker(predictor, detector, max_faces=limits.VIDEO_MAX_FACES)
    model = model_label(predictor.source, hide_path=True)
    tracks: dict[int, TrackPoints] = {}
    writer: Vp8Writer | None = None
    count = faces_seen = 0
    size = work_size = (header.width, header.height)
    stopped: DecodeStopped | None = None
    started = time.monotonic()
    try:
        with jsonl.open("w") as lines_file, table.open("w", newline="") as csv_file:
            write_csv(csv_file, [])
            decoded = frames(clip, deadline, name)
            try:
                for frame in decoded:
                    size, work_size = frame.size, (frame.rgb.shape[1], frame.rgb.shape[0])
                    faces = reading_order(tracker.update(frame.rgb, frame.time))
                    if writer is None:
                        reduce = min(1.0, limits.VIDEO_OUTPUT_SIDE / max(work_size))
                        shape = (round(work_size[0] * reduce), round(work_size[1] * reduce))
                        writer = Vp8Writer(annotated, frame_rate(header), shape)
                    writer.write(draw_faces(frame.rgb, faces, reduce, labels=[face.track for face in faces]))
                    faces = [in_original_pixels(face, frame.scale) for face in faces]
                    lines = face_lines(name, *size, faces, frame=frame.index, time=frame.time)
                    for line in lines:
                        if line["face"] is not None:
                            line["annotated"] = annotated.name
                        line["model"] = model
                        lines_file.write(json.dumps(line) + "\n")
                    write_csv(csv_file, lines, header=False)
                    for face in faces:
                        track = tracks.setdefault(int(face.track), TrackPoints())
                        track.times.append(round(float(frame.time), 4))
                        track.points.append(np.round(face.keypoints.astype(np.float32), 2))
                    count, faces_seen = count + 1, faces_seen + len(faces)
                    if progress is not None:
                        progress(count, header.frames)
                    if time.monotonic() > deadline:
                        raise DecodeStopped(f"{name}: the time for one clip ran out", count, "budget")
                    if not folder.exists():  # the session ended (its page was closed): nobody waits for it
                        raise DecodeStopped(f"{name}: the page was closed", count, "cancelled")
            finally:
                decoded.close()
    except DecodeStopped as error:
        stopped = error
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    if writer is not None and stopped is not None and stopped.reason == "cancelled":
        writer.discard()
        writer = None
    elif writer is not None:
        writer.commit()
    return ClipResult(
        annotated if writer is not None else None,
        jsonl,
        table,
        count,
        faces_seen,
        tracks,
        size,
        work_size,
        time.monotonic() - started,
        stopped,
    )


def track_series(track: TrackPoints) -> dict[str, np.ndarray]:
    """A track as plain arrays (what the session keeps for the plot): times (T,), points (T, 15, 2)."""
    return {"times": np.asarray(track.times, np.float32), "points": np.stack(track.points)}


def plot_frames(series: dict[str, np.ndarray] | None, axis: int):
    """One coordinate (0: x, 1: y) of a track's 15 keypoints over time, as the long table a line plot
    takes: columns "time (s)", "x (px)" or "y (px)", "keypoint"."""
    import pandas as pd

    column = ("x (px)", "y (px)")[axis]
    if not series:
        return pd.DataFrame({"time (s)": [], column: [], "keypoint": []})
    times, points = series["times"], series["points"]
    return pd.DataFrame(
        {
            "time (s)": np.tile(times, len(KEYPOINT_NAMES)),
            column: points[:, :, axis].T.reshape(-1),
            "keypoint": np.repeat(KEYPOINT_NAMES, len(times)),
        }
    )
