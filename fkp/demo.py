"""fkp demo: upload a photo (or take one with the webcam, or paste one) and get the 15 Kaggle facial
keypoints of every face, with a zoomed view of each face, its heatmaps, a table, JSON and downloads;
or follow the keypoints live on the webcam.

    fkp demo [--port 7860]             # or `python app.py` in the repository (the Space's entry point)
    FKP_MODEL=runs/fkp fkp demo        # another model: a local folder or a Hub model id

The server is meant for the open internet: it reads only files that Gradio itself received, keeps
per-session state small and expiring, deletes its files, bounds uploads, queue and concurrency, and
never shows a server path or a stack trace.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import csv
import ctypes
import json
import logging
import math
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

try:
    import gradio as gr
except ImportError as error:  # the demo is an optional part of an installed fkp
    raise ImportError("the fkp demo needs Gradio: pip install 'fkp[demo]' (or pip install -r requirements.txt)") from error
import cv2
import numpy as np

from .api import DEFAULT_MODEL, FaceKeypoints, default_model_source
from .keypoints import KEYPOINT_COLORS, KEYPOINT_NAMES
from .live import LiveTracker
from .photo import (
    FACE_SCORE_THRESHOLD,
    MAX_PIXELS,
    MEAN_FRAME_KEYPOINTS,
    NotAnImageError,
    default_detector,
    in_original_pixels,
    load_photo_reduced,
    predict_photo,
)
from .render import (
    display_scale,
    draw_faces,
    face_view,
    heatmap_grid,
    hex_color,
    points_diagram,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"  # in a repository checkout / Space; absent when pip-installed
TABLE_COLUMNS = ["face", "#", "keypoint", "x", "y", "confidence"]
PREDICTOR = FaceKeypoints(default_model_source())
DETECTOR = default_detector()

# Resource bounds for a public server on 2 CPU cores.
MAX_FACES = 20  # faces shown per photo (largest first); more are counted, not drawn
MAX_UPLOAD = "25mb"  # Gradio refuses larger uploads before they reach us
MAX_INLINE_BYTES = 25 * 2**20  # webcam / clipboard captures sent inline as data: URLs
# Decoding is bounded whatever the format and bit depth (peak ~8 bytes a decoded pixel): a photo of up
# to MAX_PIXELS is read if it is a JPEG (reduced by 1/2, 1/4 or 1/8 while decoding when larger than
# DECODE_PIXELS; coordinates are still given in original pixels); other formats up to DECODE_PIXELS.
DECODE_PIXELS = 40_000_000
LIVE_MAX_PIXELS = 3840 * 2160  # a webcam frame: 4K at most (the camera is asked for 480x360)
LIVE_MAX_BYTES = 8 * 2**20
LIVE_IDLE_SECONDS = 5.0  # a stream that sends no frame for this long is closed and frees its slot
PHOTO_CONCURRENCY = 2  # photo analyses at once (each uses both cores); the rest wait in the queue
LIVE_STREAMS = 2  # webcam streams at once
QUEUE_SIZE = 32  # requests waiting beyond this are refused with "queue full"
STATE_SECONDS = 15 * 60  # a session's results (for the face selector / opacity) expire after this
FILE_SECONDS = 15 * 60  # Gradio's cached result files and our downloads are deleted after this
LIVE_SECONDS = 5 * 60  # one webcam stream's time limit; press record again to go on
# The browser sends the next frame only when the previous answer is back, so the frame rate is one
# round trip: JPEG encoding in the browser, transfer, decoding, tracking, drawing, back. 480x360 is
# plenty for a face filling a webcam view (the detector needs 64 px), and keeps the round trip short.
# Not mirrored: the preview shows the subject's left on the right, as the keypoints are drawn.
LIVE_CAMERA = {"video": {"width": {"ideal": 480}, "height": {"ideal": 360}}, "audio": False}

DOWNLOADS = Path(tempfile.mkdtemp(prefix="fkp-demo-"))  # one folder per process, emptied as it goes
logger = logging.getLogger(__name__)

START_HINT = "Upload a photo, take one with the webcam or paste one from the clipboard, or click an example."


class InputError(Exception):
    """A request the demo cannot serve; the message says what to do, in plain words."""


# ---------------------------------------------------------------------------- the analysis


def analyse(image_path: str | Path | bytes | None, name: str | None = None, whole_image: bool = False, flip_test: bool = False):
    """Run the whole pipeline on one image file (or bytes) and render everything the page shows.

    Returns (status markdown, annotated image path, face views [(image, caption)], face selector
    update, heatmap image of face 1, coordinate table, JSON result, [annotated, JSON, CSV] file
    paths, session state). Raises InputError with a plain message.
    """
    if image_path is None or image_path == "":
        raise InputError(START_HINT)
    name = Path(name or (image_path if isinstance(image_path, (str, Path)) else "capture.png")).name
    try:
        photo, scale = load_photo_reduced(image_path, max_pixels=MAX_PIXELS, decode_pixels=DECODE_PIXELS)
    except NotAnImageError as error:
        raise InputError(plain_reason(error, name)) from None
    height, width = round(photo.shape[0] * scale[1]), round(photo.shape[1] * scale[0])
    faces = predict_photo(PREDICTOR, photo, DETECTOR, whole_image=bool(whole_image), flip_test=bool(flip_test))
    if not faces:
        status = (f"**No face found** in this {width}x{height} image. Faces smaller than about 64 pixels, full profiles "
                  "and faces turned more than about 45° are not found. If the image is already a close face crop "
                  "(like Kaggle's 96x96 frames), tick *Treat the whole image as one face*.")
        return status, None, [], gr.update(choices=[], value=None, visible=False), None, table([]), {"faces": []}, None, None
    found = len(faces)
    faces = reading_order(faces[:MAX_FACES])
    for face in faces:  # what the state keeps: ~80 KB a face
        face.heatmaps = face.heatmaps.astype(np.float16)

    prune_downloads()  # every request, API ones included, clears what earlier ones left
    folder = DOWNLOADS / uuid.uuid4().hex
    folder.mkdir()
    stem = Path(name).stem or "photo"
    annotated = folder / f"{stem}_keypoints.jpg"
    write_jpeg(annotated, draw_faces(photo, faces, display_scale(photo)))
    views = [(face_view(photo, face), f"face {number} · {face.face_score:.2f}") for number, face in enumerate(faces, start=1)]
    del photo
    faces = [in_original_pixels(face, scale) for face in faces]  # from here on, original-photo pixels
    rows = [[number, index, name_, round(float(x), 1), round(float(y), 1), round(float(c), 2)]
            for number, face in enumerate(faces, start=1)
            for index, (name_, (x, y), c) in enumerate(zip(KEYPOINT_NAMES, face.keypoints, face.confidence), start=1)]
    payload = {"image": name, "width": width, "height": height, "model": model_name(),
               "coordinates": "original-photo pixels, x right, y down, pixel centres at integers; left = the subject's left",
               "faces": [face.as_dict() for face in faces]}
    files = [str(annotated), *write_tables(folder, stem, payload, rows)]

    kind = "image treated as one face" if whole_image else f"{found} face{'s' if found > 1 else ''} found"
    status = f"**{kind}** in this {width}x{height} image."
    if scale != (1.0, 1.0):
        status += f" It was read at 1/{round(scale[0])} size to bound the server's memory; coordinates are in original pixels."
    if found > len(faces):
        status += f" The {len(faces)} largest are shown."
    doubtful = [f"face {number} ({face.face_score:.2f})" for number, face in enumerate(faces, start=1) if not face.looks_like_a_face]
    if doubtful:
        status += (f"\n\n⚠️ **This may not be a face:** low face score for {', '.join(doubtful)}, under {FACE_SCORE_THRESHOLD}. "
                   "The keypoints are a guess; try a photo where the face is clearly visible.")
    choices = [str(number) for number in range(1, len(faces) + 1)]
    selector = gr.update(choices=choices, value="1", visible=len(faces) > 1)
    state = {"faces": faces}
    return status, str(annotated), views, selector, heatmaps(state, "1"), table(rows), payload, files, state


def reading_order(faces: list) -> list:
    """Faces numbered as one reads a photo: by rows (a face whose box overlaps the height of a
    row's first face joins that row), then left to right, so that "face 3" is easy to find."""
    if len(faces) < 2 or any(face.box is None for face in faces):
        return faces
    rows: list[list] = []
    for face in sorted(faces, key=lambda face: face.box.center[1]):
        first = rows[-1][0].box if rows else None
        if first is not None and face.box.y < first.y + first.height:  # overlaps the row's first face vertically
            rows[-1].append(face)
        else:
            rows.append([face])
    return [face for row in rows for face in sorted(row, key=lambda face: face.box.center[0])]


def plain_reason(error: NotAnImageError, name: str) -> str:
    """The user's message for an image that cannot be read: the file's name and the reason, no path."""
    reason = error.reason.rstrip(".")
    if "not a known image format" in reason:
        return f"{name} could not be read: {reason}. Try a JPEG, PNG or WebP photo."
    return f"{name} could not be read: {reason}."


def analyse_upload(upload: dict | None, whole_image: bool = False, flip_test: bool = False):
    """The API endpoint (/predict): `analyse` on the raw payload of the image input. The event runs
    with preprocess=False, so a file that is not an image reaches `load_photo_reduced`, which says
    so, and the path is checked here (`received_file`). Errors are raised as gr.Error with a plain
    message."""
    try:
        return analyse(*received_image(upload), whole_image, flip_test)
    except InputError as error:
        raise gr.Error(str(error), print_exception=False) from None
    finally:
        release_memory()


def analyse_on_page(upload: dict | None, whole_image: bool = False, flip_test: bool = False):
    """The page's handler: like `analyse_upload`, but a cleared input or an error clears the old
    results, and the message goes where the results were. The last output shows or hides them."""
    if not upload:
        return (START_HINT, *EMPTY_RESULTS, gr.update(visible=False))
    try:
        return (*analyse(*received_image(upload), whole_image, flip_test), gr.update(visible=True))
    except InputError as error:
        return (f"⚠️ {error}", *EMPTY_RESULTS, gr.update(visible=True))
    finally:
        release_memory()


EMPTY_RESULTS = (None, [], gr.update(choices=[], value=None, visible=False), None, None, None, None, None)


def received_image(upload: dict | None, max_bytes: int | None = None) -> tuple[str | bytes, str | None]:
    """(path or bytes, display name) of the image a request carries: an inline capture (data: URL,
    at most ``max_bytes``, default MAX_INLINE_BYTES) or a file Gradio received (`received_file`)."""
    if not upload:
        raise InputError(START_HINT)
    if not isinstance(upload, dict):
        raise InputError("This request did not carry an image. Upload a photo, take one with the webcam or paste one.")
    max_bytes = MAX_INLINE_BYTES if max_bytes is None else max_bytes
    url = upload.get("url") or ""
    if not isinstance(url, str):
        url = ""
    if url.startswith("data:"):  # webcam / clipboard captures may arrive inline
        encoded = url.split(",", 1)[-1]
        if len(encoded) > max_bytes * 4 // 3 + 4:
            raise InputError(f"This capture is larger than {max_bytes // 2**20} MB. Use a smaller image.")
        try:
            return base64.b64decode(encoded, validate=True), "capture.png"
        except (binascii.Error, ValueError):
            raise InputError("This capture could not be read. Take the photo again, or upload a file.") from None
    name = upload.get("orig_name")
    return str(received_file(upload.get("path"))), name if isinstance(name, str) else None


def received_file(path: str | None) -> Path:
    """The path of a file that Gradio itself received or cached (its upload folder, or the shipped
    examples); anything else a request names is refused without touching it, so the demo never reads
    a server file, nor tells whether one exists."""
    from gradio.utils import get_upload_folder

    roots = [Path(os.path.realpath(get_upload_folder())), Path(os.path.realpath(EXAMPLES))]
    # realpath follows symbolic links (a link inside the upload folder may point anywhere); it reads
    # link targets only, and opens nothing, so the answer says nothing of whether a file exists
    resolved = Path(os.path.realpath(path)) if isinstance(path, str) and path and "\0" not in path else None
    if resolved is not None and any(resolved.is_relative_to(root) for root in roots):
        return resolved
    raise InputError("This image did not arrive as an upload. Upload a photo, take one with the webcam or paste one from the clipboard.")


def heatmaps(state: dict | None, face: str | int | None, opacity: float | str | None = 0.7) -> np.ndarray | None:
    """The 15 heatmaps of the selected face (1-based number), rendered from the session state. Values
    come as the browser sent them: a face number out of range is the nearest face, an opacity that is
    not a number in [0, 1] is clipped or taken as the default."""
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
    return heatmap_grid(state["faces"][index], opacity, heading=f"Face {index + 1}: one heatmap per keypoint")


def table(rows):
    import pandas as pd

    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def model_name() -> str:
    """What the results say the model is: a Hub id as it is, never a server path."""
    source = default_model_source()
    if source == str(DEFAULT_MODEL):
        return "fkp shipped weights"
    return Path(source).name if Path(source).exists() else source


def write_jpeg(path: Path, image: np.ndarray, quality: int = 92) -> None:
    _, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    path.write_bytes(encoded.tobytes())


def write_tables(folder: Path, stem: str, payload: dict, rows: list) -> list[str]:
    json_path = folder / f"{stem}_keypoints.json"
    json_path.write_text(json.dumps(payload, indent=2))
    csv_path = folder / f"{stem}_keypoints.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TABLE_COLUMNS)
        writer.writerows(rows)
    return [str(json_path), str(csv_path)]


def prune_downloads(max_age: float = 60.0) -> None:
    """Delete our per-request download folders once Gradio has copied them into its cache (which
    `delete_cache` prunes): anything older than ``max_age`` seconds. Also removes the empty folders
    that Gradio's cache keeps after it deleted their files (one per distinct file or URL it received)."""
    cutoff = time.time() - max_age
    for entry in DOWNLOADS.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        except FileNotFoundError:  # another request pruned it first
            pass
    remove_empty_folders(gradio_cache(), max_age)


def gradio_cache() -> Path:
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def remove_empty_folders(root: Path, max_age: float = 0.0) -> int:
    """Remove the empty folders directly inside ``root`` that are older than ``max_age`` seconds
    (young ones may be about to receive a file); returns how many were removed."""
    cutoff, removed = time.time() - max_age, 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.rmdir(entry.path)  # fails unless empty
                removed += 1
        except OSError:
            pass
    return removed


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 (glibc only)
    except (OSError, AttributeError):
        return None
    # A fixed mmap threshold: buffers over 1 MB (photos, pyramids, windows) get their own mappings,
    # which go back to the system when freed. glibc's default threshold rises after the first large
    # free, and later photos then fragment the heap, which is never given back.
    libc.mallopt(-3, 2**20)  # M_MMAP_THRESHOLD
    return libc


_LIBC = _glibc()


def release_memory() -> None:
    """Give freed heap memory back to the system (glibc's malloc_trim), after each photo."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


# ---------------------------------------------------------------------------- live webcam


LIVE_ACTIVITY: dict[str, float] = {}  # session -> when its stream last handled a frame (time.monotonic)
_WATCHDOG: dict = {}


def live_frame(frame: dict | None, tracker: LiveTracker | None, session: str = ""):
    """One webcam frame (the raw payload: the event runs with preprocess=False, so nothing is read
    before `received_image` checks it) -> (frame with smoothed keypoints, status, tracker state).
    A frame that cannot be read is skipped with a note in the status; the stream goes on."""
    LIVE_ACTIVITY[session] = time.monotonic()
    try:
        if not frame:
            return gr.skip(), "", tracker
        try:
            source, _ = received_image(frame, max_bytes=LIVE_MAX_BYTES)
            photo, _ = load_photo_reduced(source, max_pixels=LIVE_MAX_PIXELS, decode_pixels=LIVE_MAX_PIXELS)
        except NotAnImageError as error:
            return gr.skip(), f"⚠️ A frame was skipped, as it could not be read: {error.reason.rstrip('.')}. The stream goes on.", tracker
        except InputError as error:
            return gr.skip(), f"⚠️ A frame was skipped: {error} The stream goes on.", tracker
        if tracker is None:
            tracker = LiveTracker(PREDICTOR, DETECTOR)
        faces = tracker.update(photo)
        annotated = draw_faces(photo, faces, display_scale(photo, 960))
        status = (f"{len(faces)} face{'s' if len(faces) != 1 else ''} · {tracker.frame_rate:.1f} frames/s arriving · "
                  f"{1000 * float(np.median(tracker.seconds)):.0f} ms a frame on the server")
        return annotated, status, tracker
    except Exception:  # never end a stream on one frame; the log has the details, the page a plain note
        logger.exception("live frame failed")
        return gr.skip(), "⚠️ A frame could not be processed and was skipped. The stream goes on.", tracker
    finally:
        LIVE_ACTIVITY[session] = time.monotonic()


async def live_event(frame: dict | None, tracker: LiveTracker | None, request: gr.Request):
    """The stream event: starts the abandoned-stream watchdog on the server's event loop, then runs
    `live_frame` in a worker thread."""
    import anyio

    loop = asyncio.get_running_loop()
    if _WATCHDOG.get("loop") is not loop:
        _WATCHDOG.update(loop=loop, task=loop.create_task(close_abandoned_streams(demo)))
    return await anyio.to_thread.run_sync(live_frame, frame, tracker, getattr(request, "session_hash", "") or "")


async def close_abandoned_streams(blocks: gr.Blocks, idle: float | None = None) -> None:
    """Close webcam streams whose client went away or sent no frame for ``idle`` seconds.

    Gradio keeps a stream's concurrency slot until the client calls /close or the stream's
    time_limit passes, so two clients that join and vanish would hold both slots for 5 minutes.
    Closing is what Gradio's own /close route does. ``idle`` defaults to LIVE_IDLE_SECONDS."""
    while True:
        idle = LIVE_IDLE_SECONDS if idle is None else idle
        await asyncio.sleep(min(1.0, idle / 4))
        queue, now = blocks._queue, time.monotonic()
        running = set()
        for job in list(queue.active_jobs):
            for event in job or []:
                if not event.streaming or event.closed:
                    continue
                running.add(event.session_hash)
                last = LIVE_ACTIVITY.setdefault(event.session_hash, now)
                if not event.alive or now - last > idle:
                    logger.info("closing an abandoned webcam stream (%.0f s without a frame)", now - last)
                    event.run_time, event.closed = math.inf, True
                    event.signal.set()
        for session in set(LIVE_ACTIVITY) - running:
            if now - LIVE_ACTIVITY[session] > idle:
                del LIVE_ACTIVITY[session]


# ---------------------------------------------------------------------------- the page


def legend_html() -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{hex_color(KEYPOINT_COLORS[name])}"></span><b>{number}</b> {name}</li>'
        for number, name in enumerate(KEYPOINT_NAMES, start=1))
    return (f'<ol class="fkp-legend">{items}</ol>'
            '<p class="fkp-note"><b>left / right are the subject\'s own</b>: the left eye is the one on the right of the '
            'picture, as in Kaggle\'s labels. Coordinates are in original-photo pixels, x to the right, y down.</p>')


CSS = """
.fkp-legend {margin: 0; padding-left: 0; list-style: none; font-size: 0.9em}
.fkp-legend li {margin: 0.1em 0; break-inside: avoid; white-space: nowrap}
.fkp-legend .swatch {display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #222; border-radius: 50%;
                     vertical-align: -0.1em; margin-right: 0.35em}
.fkp-note {font-size: 0.9em}
@media (max-width: 768px) {
  #main-row {flex-direction: column-reverse}    /* phones: the results first, the input below */
  #table [role=gridcell], #table [role=gridcell] *, #table [role=columnheader], #table [role=columnheader] * {
    font-size: 11px !important; padding-left: 1px !important; padding-right: 1px !important;
    word-break: normal !important; overflow-wrap: break-word !important}
}
"""

ABOUT = f"""
**How it works.** Faces are found by MediaPipe's BlazeFace detector (Google, Apache-2.0; converted to PyTorch and
shipped with fkp, so nothing is downloaded). It finds faces turned in-plane up to about ±45°, and each crop is
turned upright before a small stacked hourglass network predicts one heatmap per keypoint. It does not find full
profiles, and faces under about 64 pixels may be missed. A face score under {FACE_SCORE_THRESHOLD} is flagged: the
crop may not be a face. Up to {MAX_FACES} faces are shown per photo. Results and files are kept for
{FILE_SECONDS // 60} minutes.
"""


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="fkp: facial keypoints", delete_cache=(FILE_SECONDS // 3, FILE_SECONDS)) as demo:
        gr.Markdown("# fkp: facial keypoints\nThe 15 keypoints of Kaggle's *Facial Keypoints Detection* (eyes, brows, "
                    "nose, mouth) for every face in a photo, at any in-plane angle, with what the network saw.")
        with gr.Tab("Photo"):
            state = gr.State(time_to_live=STATE_SECONDS)
            with gr.Row(elem_id="main-row"):
                with gr.Column(scale=2, min_width=320):
                    image = gr.Image(label="Photo", sources=["upload", "webcam", "clipboard"], type="filepath", elem_id="photo", height=360)
                    with gr.Row():
                        whole_image = gr.Checkbox(label="Treat the whole image as one face", value=False, elem_id="whole")
                        flip_test = gr.Checkbox(label="Flip test (steadier, 2x slower)", value=False, elem_id="flip")
                    if EXAMPLES.is_dir():
                        gr.Examples(examples=[[str(p)] for p in sorted(EXAMPLES.glob("*.jpg"))], inputs=[image], label="Examples (click one)",
                                    examples_per_page=6)
                    with gr.Accordion("The 15 keypoints", open=True):
                        gr.Image(points_diagram(MEAN_FRAME_KEYPOINTS), show_label=False, container=False, interactive=False,
                                 buttons=[], elem_id="diagram", height=260)
                        gr.HTML(legend_html(), elem_id="legend")
                with gr.Column(scale=3, min_width=320, visible=False, elem_id="results") as results:
                    status = gr.Markdown(elem_id="status")
                    with gr.Row(equal_height=True):
                        annotated = gr.Image(label="Keypoints", format="jpeg", interactive=False, elem_id="annotated", scale=3, min_width=280, height=380)
                        views = gr.Gallery(label="Each face, upright, points numbered (face score)", format="jpeg", columns=2, height=380,
                                           object_fit="contain", elem_id="faces", scale=2, min_width=200)
                    with gr.Row():
                        face = gr.Radio(label="Heatmaps of face", choices=[], visible=False, elem_id="face-select", scale=2)
                        opacity = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Heatmap opacity", elem_id="opacity", scale=1, min_width=200)
                    gr.Markdown("**What the network sees:** each keypoint's heatmap over the face crop it was given, zoomed on "
                                "the decoded point (between the ticks). A tight bright spot is a sure point; a spread or a "
                                "second spot is doubt.", elem_classes="fkp-note")
                    heatmap_view = gr.Image(show_label=False, format="jpeg", interactive=False, elem_id="heatmaps")
                    coordinates = gr.Dataframe(headers=TABLE_COLUMNS, label="Coordinates (original-photo pixels)", elem_id="table",
                                               wrap=True, column_widths=["11%", "7%", "34%", "15%", "15%", "18%"], max_height=420)
                    with gr.Row():
                        result_json = gr.JSON(label="Result (JSON)", open=False, elem_id="json", max_height=300)
                        downloads = gr.File(label="Downloads: annotated image (at most 1280 px), JSON, CSV (original-photo pixels)", file_count="multiple",
                                            elem_id="downloads")
            with gr.Accordion("About the detector and this demo", open=False):
                gr.Markdown(ABOUT)
            api_button = gr.Button("predict", visible=False)

        with gr.Tab("Live webcam", elem_id="live-tab"):
            gr.Markdown("Click *Click to Access Webcam*, allow the camera, then press *Record*: the keypoints follow your "
                        f"face live. A stream stops after {LIVE_SECONDS // 60} minutes; press *Record* again to go on.")
            tracker = gr.State(time_to_live=LIVE_SECONDS + 60)
            with gr.Row():
                camera = gr.Image(label="Webcam", sources=["webcam"], streaming=True, type="numpy", elem_id="camera",
                                  webcam_options=gr.WebcamOptions(mirror=False, constraints=LIVE_CAMERA))
                live = gr.Image(label="Live keypoints", streaming=True, interactive=False, elem_id="live", format="jpeg")
            live_status = gr.Markdown(elem_id="live-status", elem_classes="fkp-note")

        outputs = [status, annotated, views, face, heatmap_view, coordinates, result_json, downloads, state]
        options = [image, whole_image, flip_test]
        photo_events = dict(concurrency_limit=PHOTO_CONCURRENCY, concurrency_id="photo", preprocess=False)
        api_button.click(analyse_upload, options, outputs, api_name="predict", **photo_events)
        for trigger in (image.change, whole_image.change, flip_test.change):
            trigger(analyse_on_page, options, [*outputs, results], api_visibility="private", trigger_mode="always_last", **photo_events)
        for trigger in (face.change, opacity.change):  # raw values: a typed 1.5 or an emptied box is clipped, not an error
            trigger(heatmaps, [state, face, opacity], heatmap_view, api_visibility="private", trigger_mode="always_last",
                    concurrency_limit=4, concurrency_id="heatmaps", preprocess=False)
        camera.stream(live_event, [camera, tracker], [live, live_status, tracker], stream_every=0.05, time_limit=LIVE_SECONDS,
                      concurrency_limit=LIVE_STREAMS, concurrency_id="live", api_visibility="private", preprocess=False)
    demo.queue(max_size=QUEUE_SIZE)
    return demo


demo = build_demo()

LAUNCH_OPTIONS = dict(max_file_size=MAX_UPLOAD, css=CSS)


def launch(**options):
    """Start the server with the demo's bounds (also used by app.py). SIGTERM and SIGHUP stop it
    the way Ctrl+C does, so Gradio deletes its files and `clean_up` runs: nothing is left on disk."""
    if threading.current_thread() is threading.main_thread() and not options.get("prevent_thread_lock"):
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.default_int_handler)
    return demo.launch(**{**LAUNCH_OPTIONS, **options})


def clean_up() -> None:
    """At exit: our downloads, and every file Gradio received or cached for this app (uploads,
    results, the examples' copies) with the folders they were in. Gradio deletes its files only when
    its server shuts down gracefully, which a stopped process does not always get to, and it keeps
    the examples' copies."""
    shutil.rmtree(DOWNLOADS, ignore_errors=True)
    files = {file for files in demo.temp_file_sets for file in files}
    files |= {file for block in demo.blocks.values() for file in getattr(block, "keep_in_cache", ())}
    cache = os.path.realpath(gradio_cache())
    for file in files:
        path = Path(file)
        if not os.path.realpath(path).startswith(cache + os.sep):
            continue
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # only if empty
        except OSError:
            pass
    remove_empty_folders(gradio_cache())


atexit.register(clean_up)


def main(argv: list[str] | None = None, prog: str = "python -m fkp.demo") -> int:
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description="Run the fkp Gradio demo.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    args = parser.parse_args(argv)
    launch(server_name=args.host, server_port=args.port, share=args.share)
    return 0


if __name__ == "__main__":
    main()
