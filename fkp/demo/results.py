"""What the demo tells the user, as plain data: no Gradio, no model, no files.

The reading order of faces, the coordinate table's rows, the JSON payload, the status lines and the
plain messages for what went wrong. The handlers (`handlers.py`) compute, these functions only word it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..keypoints import KEYPOINT_NAMES
from ..pipeline import reading_order as reading_order  # its home; the CLI numbers faces the same way

if TYPE_CHECKING:
    import pandas as pd

    from ..images import NotAnImageError
    from ..pipeline import FaceResult

START_HINT = "Upload a photo, take one with the webcam or paste one from the clipboard, or click an example."
NO_IMAGE = "This request did not carry an image. Upload a photo, take one with the webcam or paste one."
NOT_AN_UPLOAD = (
    "This image did not arrive as an upload. Upload a photo, take one with the webcam or paste one from the clipboard."
)
BAD_CAPTURE = "This capture could not be read. Take the photo again, or upload a file."
FRAME_FAILED = "⚠️ A frame could not be processed and was skipped. The stream goes on."
TABLE_COLUMNS = ["face", "#", "keypoint", "x", "y", "confidence"]
COORDINATES = "original-photo pixels, x right, y down, pixel centres at integers; left = the subject's left"


class InputError(Exception):
    """A request the demo cannot serve; the message says what to do, in plain words."""


def too_large(max_bytes: int) -> str:
    return f"This capture is larger than {max_bytes // 2**20} MB. Use a smaller image."


def plain_reason(error: NotAnImageError, name: str) -> str:
    """The user's message for an image that cannot be read: the file's name and the reason, no path."""
    reason = error.reason.rstrip(".")
    if "not a known image format" in reason:
        return f"{name} could not be read: {reason}. Try a JPEG, PNG or WebP photo."
    return f"{name} could not be read: {reason}."


def display_name(name: str | None, source: str | Path | bytes) -> str:
    """The name the results use for an image: the uploaded file's own name, never a folder."""
    return Path(name or (source if isinstance(source, (str, Path)) else "capture.png")).name


def face_caption(number: int, face: FaceResult) -> str:
    return f"face {number} · {face.face_score:.2f}"


def keypoint_rows(faces: list[FaceResult]) -> list[list]:
    """The coordinate table: one row per face and keypoint, in TABLE_COLUMNS order, rounded for reading."""
    return [
        [number, index, name, round(float(x), 1), round(float(y), 1), round(float(c), 2)]
        for number, face in enumerate(faces, start=1)
        for index, (name, (x, y), c) in enumerate(
            zip(KEYPOINT_NAMES, face.keypoints, face.confidence, strict=True), start=1
        )
    ]


def table(rows: list[list]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def result_payload(name: str, width: int, height: int, model: str, faces: list[FaceResult]) -> dict:
    """The JSON result: in the response itself and in the downloads."""
    return {
        "image": name,
        "width": width,
        "height": height,
        "model": model,
        "coordinates": COORDINATES,
        "faces": [face.as_dict() for face in faces],
    }


def no_face_status(width: int, height: int) -> str:
    return (
        f"**No face found** in this {width}x{height} image. Faces smaller than about 64 pixels, full profiles "
        "and faces turned more than about 45° are not found. If the image is already a close face crop "
        "(like Kaggle's 96x96 frames), tick *Treat the whole image as one face*."
    )


def photo_status(
    faces: list[FaceResult],
    found: int,
    width: int,
    height: int,
    scale: tuple[float, float],
    threshold: float,
    whole_image: bool = False,
    accurate: bool = False,
) -> str:
    """The line over the results: how many faces, at what size the photo was read, which model (with
    ``accurate``), which may not be faces (a face score under ``threshold``)."""
    kind = "image treated as one face" if whole_image else f"{found} face{'s' if found > 1 else ''} found"
    status = f"**{kind}** in this {width}x{height} image" + (", with the accurate model." if accurate else ".")
    if tuple(scale) != (1.0, 1.0):
        status += (
            f" It was read at 1/{round(scale[0])} size to bound the server's memory; "
            "coordinates are in original pixels."
        )
    if found > len(faces):
        status += f" The {len(faces)} largest are shown."
    doubtful = [
        f"face {number} ({face.face_score:.2f})"
        for number, face in enumerate(faces, start=1)
        if not face.looks_like_a_face
    ]
    if doubtful:
        status += (
            f"\n\n⚠️ **This may not be a face:** low face score for {', '.join(doubtful)}, under "
            f"{threshold}. The keypoints are a guess; try a photo where the face is clearly visible."
        )
    return status


def live_status(faces: int, frame_rate: float, seconds: float) -> str:
    """The live tab's line: faces tracked, frames arriving, server time per frame (``seconds``)."""
    return (
        f"{faces} face{'s' if faces != 1 else ''} · {frame_rate:.1f} frames/s arriving · "
        f"{1000 * seconds:.0f} ms a frame on the server"
    )


def skipped_frame(reason: str) -> str:
    return f"⚠️ A frame was skipped, as it could not be read: {reason.rstrip('.')}. The stream goes on."


def refused_frame(message: str) -> str:
    return f"⚠️ A frame was skipped: {message} The stream goes on."


# The Video tab's words.
VIDEO_HINT = "Upload a clip (MP4, MOV, WebM, MKV, AVI or an animated GIF) to follow its faces."
NO_CLIP = "This request did not carry a clip. Upload a video file."
CLIP_NOT_AN_UPLOAD = "This clip did not arrive as an upload. Upload a video file."
CLIP_CANCELLED = "The analysis stopped: the page was closed."
VIDEO_FAILED = "⚠️ This clip could not be analysed. Try another clip, or a shorter one."


def video_limits_text(
    max_mb: int, max_seconds: float, max_frames: int, work_side: int, budget: float, minutes: int, max_faces: int
) -> str:
    """The Video tab's limits, in plain words, as the page states them."""
    return (
        f"**Limits:** clips of up to {max_mb} MB, {max_seconds:g} seconds and {max_frames} frames, "
        f"and up to 4K (3840x2160). Frames larger than {work_side} pixels are analysed at {work_side} "
        f"pixels (the coordinates are still in the clip's own pixels). Up to {max_faces} faces are "
        "followed in a frame, the largest first. One clip at a time per visitor; "
        f"an analysis stops after {budget / 60:g} minutes and keeps the frames it has done. Your results are "
        f"deleted when you close the page, or after {minutes} minutes."
    )


def clip_refusal(name: str, header, max_side: int, max_pixels: int, max_frames: int, max_seconds: float) -> str | None:
    """Why a clip is refused from its header (a `probe.ClipHeader`), or None if it is within the limits."""
    width, height = header.width, header.height
    if width <= 0 or height <= 0:
        return f"{name} could not be read: its header gives no frame size."
    if max(width, height) > max_side or width * height > max_pixels:
        return (
            f"{name} is {width}x{height}: frames may be at most 4K (3840x2160 pixels, {max_side} pixels a side). "
            "Use a smaller clip."
        )
    if header.frames > max_frames:
        return f"{name} has {header.frames:,} frames: a clip may have at most {max_frames}. Cut it shorter."
    if header.seconds > max_seconds + 0.5:
        return f"{name} lasts {header.seconds:.0f} seconds: a clip may last at most {max_seconds:g}. Cut it shorter."
    return None


def clip_status(name: str, result, budget: float) -> str:
    """The line over a clip's results (a `clips.ClipResult`): faces and tracks, frames, size, and where
    and why it stopped early."""
    width, height = result.size
    tracks = sorted(result.tracks)
    where = f"in {result.frames} frames of this {width}x{height} clip ({result.seconds:.1f} s of analysis)."
    if tracks:
        ids = ", ".join(str(t) for t in tracks[:12]) + (", ..." if len(tracks) > 12 else "")
        plural = "s" if len(tracks) > 1 else ""
        status = f"**{len(tracks)} face{plural} followed** (track{plural} {ids}) {where}"
    else:
        status = f"**No face found** {where}"
    if result.work_size != result.size:
        status += (
            f" Its frames were analysed at {result.work_size[0]}x{result.work_size[1]}; "
            "coordinates are in the clip's own pixels."
        )
    stopped = result.stopped
    if stopped is None:
        return status
    done = f"the results cover frames 0 to {stopped.frames - 1}" if stopped.frames else "no frame was analysed"
    if stopped.reason == "budget":
        reason = (
            f"The analysis stopped at frame {stopped.frames}, when the {budget:g} seconds one clip may take ran out"
        )
    elif stopped.reason in ("frames", "seconds", "size"):
        reason = f"{name} was stopped at frame {stopped.frames}: {stopped} (more than its header said)"
    else:
        reason = str(stopped).rstrip(".")
    return f"{status}\n\n⚠️ {reason}: {done}."
