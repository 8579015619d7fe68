"""The page's event handlers: a photo in, everything the page shows out; a webcam frame in, a drawn one out.

The keypoint models and the face detector are built on first use (`predictor()`, the server's model;
`accurate_predictor()`, the photo tab's option; `detector()`), shared by all requests and never changed
by one. Each handler checks its raw payload (`guard`), computes, lets `results` word the answer and
`storage` keep the files, and gives memory back (`memory`).
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np

from ..images import MAX_PIXELS, NotAnImageError, load_photo_reduced
from ..landmarker import FaceKeypoints
from ..pipeline import FACE_SCORE_THRESHOLD, default_detector, in_original_pixels, predict_photo
from ..render import display_scale, draw_faces, face_view, heatmap_grid, heatmap_tiles
from ..shipped import default_model_source, model_label, shipped_name
from ..tracking import LiveTracker
from . import limits, streams
from .guard import received_clip, received_image
from .limits import DECODE_PIXELS, LIVE_MAX_BYTES, LIVE_MAX_PIXELS, MAX_FACES
from .memory import release_memory
from .results import (
    CLIP_CANCELLED,
    FRAME_FAILED,
    START_HINT,
    VIDEO_FAILED,
    VIDEO_HINT,
    InputError,
    clip_refusal,
    clip_status,
    display_name,
    face_caption,
    keypoint_rows,
    live_status,
    no_face_status,
    photo_status,
    plain_reason,
    reading_order,
    refused_frame,
    result_payload,
    skipped_frame,
    table,
)
from .storage import end_session, request_folder, session_folder, write_jpeg, write_tables

if TYPE_CHECKING:
    from ..detect import FaceDetector

logger = logging.getLogger(__name__)


@functools.cache
def predictor() -> FaceKeypoints:
    """The keypoint model ($FKP_MODEL or the shipped fast model), loaded on first use."""
    return FaceKeypoints(default_model_source())


def offers_accurate_model() -> bool:
    """Whether the photo tab offers the shipped accurate model: only where the server runs the shipped
    fast one, so that the option never swaps an operator's model ($FKP_MODEL) for another."""
    return shipped_name(default_model_source()) == "fast"


@functools.cache
def accurate_predictor() -> FaceKeypoints:
    """The shipped accurate model (the photo tab's option), loaded on first use."""
    return FaceKeypoints("accurate")


@functools.cache
def detector() -> FaceDetector:
    """The face detector, built on first use."""
    return default_detector()


def warm_up() -> None:
    """Load the models and the detector now (before serving), not on the first request."""
    predictor(), detector()
    if offers_accurate_model():
        accurate_predictor()


def hidden_selector() -> dict:
    return gr.update(choices=[], value=None, visible=False)


def analyse(
    image_path: str | Path | bytes | None,
    name: str | None = None,
    whole_image: bool = False,
    flip_test: bool = False,
    tiles: bool = False,
    accurate: bool = False,
) -> tuple:
    """Run the whole pipeline on one image file (or bytes) and render everything the page shows, with
    the shipped accurate model where ``accurate`` is true and the server offers it.

    Returns (status markdown, annotated image path, face views [(image, caption)], face selector
    update, heatmaps of face 1 (one image, or with ``tiles`` the page's list of 15 tiles), coordinate
    table, JSON result, [annotated, JSON, CSV] file paths, session state). Raises InputError with a
    plain message.
    """
    if image_path is None or image_path == "":
        raise InputError(START_HINT)
    name = display_name(name, image_path)
    try:
        photo, scale = load_photo_reduced(image_path, max_pixels=MAX_PIXELS, decode_pixels=DECODE_PIXELS)
    except NotAnImageError as error:
        raise InputError(plain_reason(error, name)) from None
    height, width = round(photo.shape[0] * scale[1]), round(photo.shape[1] * scale[0])
    # a browser may send anything for a checkbox: only a true boolean counts
    whole_image, flip_test, accurate = (option is True for option in (whole_image, flip_test, accurate))
    accurate = accurate and offers_accurate_model()
    model = accurate_predictor() if accurate else predictor()
    faces = predict_photo(model, photo, detector(), whole_image=whole_image, flip_test=flip_test)
    if not faces:
        return no_face_status(width, height), None, [], hidden_selector(), None, table([]), {"faces": []}, None, None
    found = len(faces)
    faces = reading_order(faces[:MAX_FACES])
    for face in faces:  # what the state keeps: ~80 KB a face
        face.heatmaps = face.heatmaps.astype(np.float16)

    folder, stem = request_folder(), Path(name).stem or "photo"
    annotated = folder / f"{stem}_keypoints.jpg"
    write_jpeg(annotated, draw_faces(photo, faces, display_scale(photo)))
    views = [(face_view(photo, face), face_caption(number, face)) for number, face in enumerate(faces, start=1)]
    del photo
    faces = [in_original_pixels(face, scale) for face in faces]  # from here on, original-photo pixels
    rows = keypoint_rows(faces)
    payload = result_payload(name, width, height, model_label(model.source, hide_path=True), faces)
    files = [str(annotated), *write_tables(folder, stem, payload, rows)]

    status = photo_status(
        faces,
        found,
        width,
        height,
        scale,
        FACE_SCORE_THRESHOLD,
        whole_image=whole_image,
        accurate=shipped_name(model.source) == "accurate",  # also where the server runs it ($FKP_MODEL=accurate)
    )
    selector = gr.update(choices=[str(n) for n in range(1, len(faces) + 1)], value="1", visible=len(faces) > 1)
    state = {"faces": faces, "size": (width, height)}
    shown = heatmap_tile_list(state, "1") if tiles else heatmaps(state, "1")
    return status, str(annotated), views, selector, shown, table(rows), payload, files, state


def analyse_upload(upload: dict | None, whole_image: bool = False, flip_test: bool = False) -> tuple:
    """The API endpoint (/predict): `analyse` on the raw payload of the image input. The event runs
    with preprocess=False, so a file that is not an image reaches `load_photo_reduced`, which says
    so, and the path is checked first (`guard.received_file`). Errors are raised as gr.Error with a
    plain message."""
    try:
        return analyse(*received_image(upload), whole_image, flip_test)
    except InputError as error:
        raise gr.Error(str(error), print_exception=False) from None
    finally:
        release_memory()


def analyse_on_page(
    upload: dict | None, whole_image: bool = False, flip_test: bool = False, accurate: bool = False
) -> tuple:
    """The page's handler: like `analyse_upload`, but the heatmaps come as tiles, a cleared input or
    an error clears the old results, and the message goes where the results were. The last two
    outputs show or hide the results column and its panels: an error or a photo without a face shows
    its message alone, with no empty panels under it."""
    empty = (None, [], hidden_selector(), [], None, None, None, None)
    if not upload:
        return (START_HINT, *empty, gr.update(visible=False), gr.update(visible=False))
    try:
        outputs = analyse(*received_image(upload), whole_image, flip_test, tiles=True, accurate=accurate)
    except InputError as error:
        return (f"⚠️ {error}", *empty, gr.update(visible=True), gr.update(visible=False))
    finally:
        release_memory()
    found = bool(outputs[-1] and outputs[-1]["faces"])
    return (*outputs, gr.update(visible=True), gr.update(visible=found))


def heatmap_choice(state: dict | None, face: str | int | None, opacity: float | str | None) -> tuple | None:
    """(index, opacity) of the heatmaps to draw, from values as the browser sent them: a face number
    out of range is the nearest face, an opacity that is not a number in [0, 1] is clipped or taken
    as the default; None where the state has expired or holds no face."""
    if not state or not state.get("faces"):
        return None
    try:
        index = min(max(int(face or 1), 1), len(state["faces"])) - 1
    except (TypeError, ValueError):
        index = 0
    try:
        opacity = float(np.clip(float(opacity), 0.0, 1.0))
    except (TypeError, ValueError):
        opacity = 0.7
    return index, opacity


def heatmaps(
    state: dict | None, face: str | int | None, opacity: float | str | None = 0.7, zoom: bool = False
) -> np.ndarray | None:
    """The 15 heatmaps of the selected face (1-based number) in one image, rendered from the session
    state (the API's output; `heatmap_choice` reads the values)."""
    choice = heatmap_choice(state, face, opacity)
    if choice is None:
        return None
    index, opacity = choice
    heading = f"Face {index + 1}: one heatmap per keypoint"
    return heatmap_grid(state["faces"][index], opacity, bool(zoom), state.get("size"), heading=heading)


def heatmap_tile_list(
    state: dict | None, face: str | int | None, opacity: float | str | None = 0.7, zoom: bool = False
) -> list[np.ndarray]:
    """The page's heatmaps: the selected face's 15 tiles, laid out by the page (fewer columns on a phone)."""
    choice = heatmap_choice(state, face, opacity)
    if choice is None:
        return []
    index, opacity = choice
    return heatmap_tiles(state["faces"][index], opacity, bool(zoom), state.get("size"))


def live_frame(frame: dict | None, tracker: LiveTracker | None, session: str = "") -> tuple:
    """One webcam frame (the raw payload: the event runs with preprocess=False, so nothing is read
    before `received_image` checks it) -> (frame with smoothed keypoints, status, tracker state).
    A frame that cannot be read is skipped with a note in the status; the stream goes on."""
    streams.note_frame(session)
    try:
        if not frame:
            return gr.skip(), "", tracker
        try:
            source, _ = received_image(frame, max_bytes=LIVE_MAX_BYTES)
            photo, _ = load_photo_reduced(source, max_pixels=LIVE_MAX_PIXELS, decode_pixels=LIVE_MAX_PIXELS)
        except NotAnImageError as error:
            return gr.skip(), skipped_frame(error.reason), tracker
        except InputError as error:
            return gr.skip(), refused_frame(str(error)), tracker
        if tracker is None:
            tracker = LiveTracker(predictor(), detector())
        faces = tracker.update(photo)
        annotated = draw_faces(photo, faces, display_scale(photo, 960))
        return annotated, live_status(len(faces), tracker.frame_rate, float(np.median(tracker.seconds))), tracker
    except Exception:  # never end a stream on one frame; the log has the details, the page a plain note
        logger.exception("live frame failed")
        return gr.skip(), FRAME_FAILED, tracker
    finally:
        streams.note_frame(session)


async def live_event(frame: dict | None, tracker: LiveTracker | None, request: gr.Request) -> tuple:
    """The stream event: starts the abandoned-stream watchdog for the page that serves it, on the
    server's event loop, then runs `live_frame` in a worker thread."""
    import anyio
    from gradio.context import LocalContext

    blocks = LocalContext.blocks.get(None)  # the gr.Blocks running this event (set by Gradio for each call)
    if blocks is not None:
        streams.watch(blocks)
    return await anyio.to_thread.run_sync(live_frame, frame, tracker, getattr(request, "session_hash", "") or "")


def analyse_video(upload: dict | list | None, session: str = "", progress: Callable | None = None) -> tuple:
    """A clip (the raw payload of the clip input) through the Video tab: checked from its size and
    container header before anything decodes it, then followed frame by frame within the time budget
    (`clips.analyse_clip`). Returns (status, annotated clip path, track selector update, x plot, y plot,
    [JSONL, CSV] paths, session state with each track's keypoints). Raises InputError with a plain message;
    the files go into the session's folder (`storage.session_folder`), which replaces its last clip's."""
    from .clips import analyse_clip, track_series
    from .probe import ProbeError, read_header

    clip, name = received_clip(upload)
    name = display_name(name, clip)
    size = clip.stat().st_size
    if size > limits.VIDEO_MAX_BYTES:
        raise InputError(
            f"{name} is {size / 2**20:.0f} MB: a clip may be at most {limits.VIDEO_MAX_BYTES // 2**20} MB."
        )
    try:
        header = read_header(clip)
    except ProbeError as error:
        raise InputError(f"{name} could not be read: {str(error).rstrip('.')}.") from None
    except OSError:
        raise InputError(f"{name} could not be read.") from None
    refusal = clip_refusal(
        name, header, limits.VIDEO_MAX_SIDE, limits.VIDEO_MAX_PIXELS, limits.VIDEO_MAX_FRAMES, limits.VIDEO_MAX_SECONDS
    )
    if refusal:
        raise InputError(refusal)

    model, faces = predictor(), detector()  # loaded (on the first request) before the clock starts
    folder = session_folder(session or uuid.uuid4().hex)
    deadline = time.monotonic() + limits.VIDEO_BUDGET_SECONDS
    with tempfile.TemporaryDirectory(prefix="fkp-clip-") as private:
        link = Path(private) / f"clip{header.suffix}"  # the decoder reads a clip by its extension: the content's
        link.symlink_to(clip)
        result = analyse_clip(link, name, header, folder, model, faces, deadline, progress)
    if result.stopped is not None and result.stopped.reason == "cancelled":
        raise InputError(CLIP_CANCELLED)
    if not result.frames:
        shutil.rmtree(folder, ignore_errors=True)
        reason = str(result.stopped or "no frame could be decoded").rstrip(".")
        raise InputError(reason if reason.startswith(name) else f"{name} could not be read: {reason}.")
    status = clip_status(name, result, limits.VIDEO_BUDGET_SECONDS)
    longest = sorted(result.tracks, key=lambda t: (-result.tracks[t].frames, t))[: limits.MAX_FACES]
    state = {"tracks": {track: track_series(result.tracks[track]) for track in sorted(longest)}}
    choices = [(track_label(track, series), str(track)) for track, series in state["tracks"].items()]
    first = str(longest[0]) if longest else None
    selector = gr.update(choices=choices, value=first, visible=bool(choices))
    plot_x, plot_y = video_plots(state, first)
    annotated = str(result.annotated) if result.annotated else None
    return status, annotated, selector, plot_x, plot_y, [str(result.jsonl), str(result.csv)], state


def track_label(track: int, series: dict) -> str:
    times = series["times"]
    return f"track {track} · {float(times[0]):.1f}–{float(times[-1]):.1f} s ({len(times)} frames)"


def analyse_video_on_page(upload: dict | list | None, request: gr.Request, progress=gr.Progress()) -> tuple:  # noqa: B008
    """The Video tab's handler: `analyse_video` for the page, with a frame counter as progress; an error
    or a cleared input clears the old results and shows its message alone. The last two outputs show
    the results column and its panels."""
    session = getattr(request, "session_hash", "") or ""
    empty = (None, gr.update(choices=[], value=None, visible=False), None, None, None, None)
    if not upload:
        end_session(session)
        return (VIDEO_HINT, *empty, gr.update(visible=False), gr.update(visible=False))

    def frames_done(done: int, total: int) -> None:
        progress((done, total or None), desc="Following faces", unit="frames")

    try:
        outputs = analyse_video(upload, session, frames_done)
    except InputError as error:
        return (f"⚠️ {error}", *empty, gr.update(visible=True), gr.update(visible=False))
    except Exception:  # a plain message on the page; the details in the log
        logger.exception("video analysis failed")
        return (VIDEO_FAILED, *empty, gr.update(visible=True), gr.update(visible=False))
    finally:
        release_memory()
    return (*outputs, gr.update(visible=True), gr.update(visible=True))


# Time points drawn per keypoint: a longer track is thinned evenly for the plots (the files keep every frame).
# Chromium drew the two plots of a 300-frame track (4,500 points each) in 7-9 s on the busy 2-core machine,
# holding up the annotated clip; thinned to 100 frames, in about 2.5 s.
PLOT_POINTS = 100


def video_plots(state: dict | None, track: str | int | None) -> tuple:
    """The x and y plots of one track's keypoints over time, from the session state (the raw value of
    the track selector: a track that is not in the state is the first one)."""
    from .clips import plot_frames

    tracks = (state or {}).get("tracks") or {}
    if not tracks:
        return plot_frames(None, 0), plot_frames(None, 1)
    try:
        key = int(track)
    except (TypeError, ValueError):
        key = -1
    series = tracks.get(key) or next(iter(tracks.values()))
    step = max(1, -(-len(series["times"]) // PLOT_POINTS))
    series = {name: values[::step] for name, values in series.items()}
    return plot_frames(series, 0), plot_frames(series, 1)


def end_video_session(request: gr.Request) -> None:
    """The page was closed or reloaded: its clip results go."""
    end_session(getattr(request, "session_hash", "") or "")
