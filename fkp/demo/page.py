"""The page: its layout, CSS and texts, the events wired to the handlers, and the server's launch.

`build_demo()` builds a page (no model needed); `shared_demo()` is the process's one page, built on
first use, which `launch()` serves and `fkp.demo.demo` names. Each page built has its cached files
deleted at exit (`storage.clean_up`).
"""

from __future__ import annotations

import atexit
import functools
import signal
import threading

import gradio as gr
from starlette.middleware import Middleware

from ..framing import MEAN_FRAME_KEYPOINTS
from ..keypoints import KEYPOINT_COLORS, KEYPOINT_NAMES
from ..pipeline import FACE_SCORE_THRESHOLD
from ..render import hex_color, points_diagram
from .gate import Gate
from .guard import EXAMPLES
from .handlers import analyse_on_page, analyse_upload, heatmaps, live_event, warm_up
from .limits import (
    FILE_SECONDS,
    HEATMAP_CONCURRENCY,
    LIVE_SECONDS,
    LIVE_STREAMS,
    MAX_FACES,
    MAX_UPLOAD,
    PHOTO_CONCURRENCY,
    QUEUE_SIZE,
    STATE_SECONDS,
)
from .memory import glibc
from .results import TABLE_COLUMNS
from .storage import clean_up, gradio_cache, prune_downloads

# The browser sends the next frame only when the previous answer is back, so the frame rate is one
# round trip: JPEG encoding in the browser, transfer, decoding, tracking, drawing, back. 480x360 is
# plenty for a face filling a webcam view (the detector needs 64 px), and keeps the round trip short.
# Not mirrored: the preview shows the subject's left on the right, as the keypoints are drawn.
LIVE_CAMERA = {"video": {"width": {"ideal": 480}, "height": {"ideal": 360}}, "audio": False}

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

TITLE = (
    "# fkp: facial keypoints\nThe 15 keypoints of Kaggle's *Facial Keypoints Detection* (eyes, brows, "
    "nose, mouth) for every face in a photo, at any in-plane angle, with what the network saw."
)
HEATMAP_NOTE = (
    "**What the network sees:** each keypoint's heatmap over the face crop it was given, zoomed on "
    "the decoded point (between the ticks). A tight bright spot is a sure point; a spread or a "
    "second spot is doubt."
)
LIVE_HELP = (
    "Click *Click to Access Webcam*, allow the camera, then press *Record*: the keypoints follow your "
    f"face live. A stream stops after {LIVE_SECONDS // 60} minutes; press *Record* again to go on."
)
ABOUT = f"""
**How it works.** Faces are found by MediaPipe's BlazeFace detector (Google, Apache-2.0; converted to PyTorch and
shipped with fkp, so nothing is downloaded). It finds faces turned in-plane up to about ±45°, and each crop is
turned upright before a small stacked hourglass network predicts one heatmap per keypoint. It does not find full
profiles, and faces under about 64 pixels may be missed. A face score under {FACE_SCORE_THRESHOLD} is flagged: the
crop may not be a face. Up to {MAX_FACES} faces are shown per photo. Results and files are kept for
{FILE_SECONDS // 60} minutes.
"""
LAUNCH_OPTIONS = dict(max_file_size=MAX_UPLOAD, css=CSS)


def legend_html() -> str:
    """The 15 keypoints with their colours, and what left and right mean."""
    swatch = '<span class="swatch" style="background:{}"></span>'
    items = "".join(
        f"<li>{swatch.format(hex_color(KEYPOINT_COLORS[name]))}<b>{number}</b> {name}</li>"
        for number, name in enumerate(KEYPOINT_NAMES, start=1)
    )
    return (
        f'<ol class="fkp-legend">{items}</ol>'
        '<p class="fkp-note"><b>left / right are the subject\'s own</b>: the left eye is the one on the right '
        "of the picture, as in Kaggle's labels. Coordinates are in original-photo pixels, x to the right, "
        "y down.</p>"
    )


def build_demo() -> gr.Blocks:
    """A new page with its events and queue bounds; its cached files are deleted at exit."""
    with gr.Blocks(title="fkp: facial keypoints", delete_cache=(FILE_SECONDS // 3, FILE_SECONDS)) as demo:
        gr.Markdown(TITLE)
        with gr.Tab("Photo"):
            state = gr.State(time_to_live=STATE_SECONDS)
            with gr.Row(elem_id="main-row"):
                with gr.Column(scale=2, min_width=320):
                    image = gr.Image(
                        label="Photo",
                        sources=["upload", "webcam", "clipboard"],
                        type="filepath",
                        elem_id="photo",
                        height=360,
                    )
                    with gr.Row():
                        whole_image = gr.Checkbox(
                            label="Treat the whole image as one face", value=False, elem_id="whole"
                        )
                        flip_test = gr.Checkbox(label="Flip test (steadier, 2x slower)", value=False, elem_id="flip")
                    if EXAMPLES.is_dir():
                        gr.Examples(
                            examples=[[str(p)] for p in sorted(EXAMPLES.glob("*.jpg"))],
                            inputs=[image],
                            label="Examples (click one)",
                            examples_per_page=6,
                        )
                    with gr.Accordion("The 15 keypoints", open=True):
                        gr.Image(
                            points_diagram(MEAN_FRAME_KEYPOINTS),
                            show_label=False,
                            container=False,
                            interactive=False,
                            buttons=[],
                            elem_id="diagram",
                            height=260,
                        )
                        gr.HTML(legend_html(), elem_id="legend")
                with gr.Column(scale=3, min_width=320, visible=False, elem_id="results") as results:
                    status = gr.Markdown(elem_id="status")
                    with gr.Row(equal_height=True):
                        annotated = gr.Image(
                            label="Keypoints",
                            format="jpeg",
                            interactive=False,
                            elem_id="annotated",
                            scale=3,
                            min_width=280,
                            height=380,
                        )
                        views = gr.Gallery(
                            label="Each face, upright, points numbered (face score)",
                            format="jpeg",
                            columns=2,
                            height=380,
                            object_fit="contain",
                            elem_id="faces",
                            scale=2,
                            min_width=200,
                        )
                    with gr.Row():
                        face = gr.Radio(
                            label="Heatmaps of face", choices=[], visible=False, elem_id="face-select", scale=2
                        )
                        opacity = gr.Slider(
                            0.0,
                            1.0,
                            value=0.7,
                            step=0.05,
                            label="Heatmap opacity",
                            elem_id="opacity",
                            scale=1,
                            min_width=200,
                        )
                    gr.Markdown(HEATMAP_NOTE, elem_classes="fkp-note")
                    heatmap_view = gr.Image(show_label=False, format="jpeg", interactive=False, elem_id="heatmaps")
                    coordinates = gr.Dataframe(
                        headers=TABLE_COLUMNS,
                        label="Coordinates (original-photo pixels)",
                        elem_id="table",
                        wrap=True,
                        max_height=420,
                        column_widths=["11%", "7%", "34%", "15%", "15%", "18%"],
                    )
                    with gr.Row():
                        result_json = gr.JSON(label="Result (JSON)", open=False, elem_id="json", max_height=300)
                        downloads = gr.File(
                            label="Downloads: annotated image (at most 1280 px), JSON, CSV (original-photo pixels)",
                            file_count="multiple",
                            elem_id="downloads",
                        )
            with gr.Accordion("About the detector and this demo", open=False):
                gr.Markdown(ABOUT)
            api_button = gr.Button("predict", visible=False)

        with gr.Tab("Live webcam", elem_id="live-tab"):
            gr.Markdown(LIVE_HELP)
            tracker = gr.State(time_to_live=LIVE_SECONDS + 60)
            with gr.Row():
                camera = gr.Image(
                    label="Webcam",
                    sources=["webcam"],
                    streaming=True,
                    type="numpy",
                    elem_id="camera",
                    webcam_options=gr.WebcamOptions(mirror=False, constraints=LIVE_CAMERA),
                )
                live = gr.Image(
                    label="Live keypoints", streaming=True, interactive=False, elem_id="live", format="jpeg"
                )
            live_status = gr.Markdown(elem_id="live-status", elem_classes="fkp-note")

        # Every event takes the raw payload (preprocess=False): the handlers check it themselves (guard.py).
        outputs = [status, annotated, views, face, heatmap_view, coordinates, result_json, downloads, state]
        options = [image, whole_image, flip_test]
        photo_events = dict(concurrency_limit=PHOTO_CONCURRENCY, concurrency_id="photo", preprocess=False)
        api_button.click(analyse_upload, options, outputs, api_name="predict", **photo_events)
        for trigger in (image.change, whole_image.change, flip_test.change):
            trigger(
                analyse_on_page,
                options,
                [*outputs, results],
                api_visibility="private",
                trigger_mode="always_last",
                **photo_events,
            )
        for trigger in (face.change, opacity.change):  # raw values: a typed 1.5 or an emptied box is clipped
            trigger(
                heatmaps,
                [state, face, opacity],
                heatmap_view,
                api_visibility="private",
                trigger_mode="always_last",
                concurrency_limit=HEATMAP_CONCURRENCY,
                concurrency_id="heatmaps",
                preprocess=False,
            )
        camera.stream(
            live_event,
            [camera, tracker],
            [live, live_status, tracker],
            stream_every=0.05,
            time_limit=LIVE_SECONDS,
            concurrency_limit=LIVE_STREAMS,
            concurrency_id="live",
            api_visibility="private",
            preprocess=False,
        )
    demo.queue(max_size=QUEUE_SIZE)
    atexit.register(clean_up, demo)
    return demo


@functools.cache
def shared_demo() -> gr.Blocks:
    """The process's one page (what `launch()` serves, `fkp.demo.demo` and app.py's `demo`), built on first use."""
    return build_demo()


def launch(**options) -> tuple:
    """Start the server with the demo's bounds (also used by app.py), the model loaded first. SIGTERM
    and SIGHUP stop it the way Ctrl+C does, so Gradio deletes its files and the clean-up at exit
    runs: nothing is left on disk. ``options`` are gr.Blocks.launch's."""
    if threading.current_thread() is threading.main_thread() and not options.get("prevent_thread_lock"):
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.default_int_handler)
    glibc()  # the heap's fixed mmap threshold, before the first photo
    warm_up()
    page = shared_demo()
    gate = Middleware(Gate, blocks=lambda: page, cache=gradio_cache, prune=prune_downloads)
    app_kwargs = {**options.pop("app_kwargs", {})}
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), gate]
    return page.launch(**{**LAUNCH_OPTIONS, **options, "app_kwargs": app_kwargs})
