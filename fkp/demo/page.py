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
from .gate import VIDEO_EVENTS, Gate
from .guard import EXAMPLES
from .handlers import (
    analyse_on_page,
    analyse_upload,
    analyse_video_on_page,
    end_video_session,
    heatmap_tile_list,
    live_event,
    offers_accurate_model,
    video_plots,
    warm_up,
)
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
    VIDEO_BUDGET_SECONDS,
    VIDEO_CONCURRENCY,
    VIDEO_MAX_BYTES,
    VIDEO_MAX_FACES,
    VIDEO_MAX_FRAMES,
    VIDEO_MAX_SECONDS,
    VIDEO_WORK_SIDE,
)
from .memory import glibc
from .probe import FORMATS
from .results import TABLE_COLUMNS, VIDEO_HINT, video_limits_text
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
#annotated .image-container {padding-top: 40px; box-sizing: border-box}    /* label and buttons above the photo */
#faces .grid-wrap {max-height: 540px; overflow-y: auto}
#faces .grid-container {padding-top: 34px !important}    /* the label above the first views, not on them */
#heatmaps, #heatmaps .grid-wrap {height: auto !important; max-height: none !important; overflow-y: visible !important}
#heatmaps .grid-container {gap: 6px}
#heatmaps .thumbnail-item {aspect-ratio: 192 / 244; border: none; box-shadow: none; border-radius: 0}
#photo.fkp-unreadable img {visibility: hidden}
#photo.fkp-unreadable .image-container {position: relative}
#photo.fkp-unreadable .image-container::after {
  content: "This file is not a picture that can be shown."; position: absolute; inset: 0; display: flex;
  align-items: center; justify-content: center; text-align: center; padding: 1em; pointer-events: none;
  color: var(--body-text-color-subdued)}
#video-annotated video {max-height: 440px}
#video-annotated .mirror-wrap {padding-top: 34px; box-sizing: border-box}    /* the label above the clip's top row */
#video-legend .fkp-legend {columns: 3}    /* the plots' colours: 15 keypoints in 3 columns (1 on a phone) */
@media (max-width: 768px) {
  #main-row, #video-row {flex-direction: column-reverse}    /* phones: the results first, the input below */
  #video-legend .fkp-legend {columns: 1}
  #faces .grid-container {--grid-cols: 1 !important}    /* face views the width of the phone */
  #faces .grid-wrap {max-height: 620px}
  #annotated {height: auto !important}    /* the photo's own height, at most 440 px, no empty band */
  #annotated img {height: auto !important; max-height: 440px}
  #table [role=columnheader], #table [role=columnheader] * {font-size: 10px !important}
  #heatmaps .grid-container {--grid-cols: 3 !important}
  #table [role=gridcell], #table [role=gridcell] *, #table [role=columnheader], #table [role=columnheader] * {
    font-size: 11px !important; padding-left: 1px !important; padding-right: 1px !important;
    font-family: var(--font) !important; word-break: keep-all !important; overflow-wrap: normal !important}
}
"""
# A photo box whose file the browser cannot show (a text file renamed .jpg) says so instead of showing a
# broken-image icon; the message over the results says what to do.
HEAD = """<script>
(() => {
  const mark = (event, unreadable) => {
    const box = event.target instanceof HTMLImageElement && event.target.closest("#photo");
    if (box) box.classList.toggle("fkp-unreadable", unreadable);
  };
  document.addEventListener("error", (event) => mark(event, true), true);
  document.addEventListener("load", (event) => mark(event, false), true);
})();
</script>"""

TITLE = (
    "# fkp: facial keypoints\nThe 15 keypoints of Kaggle's *Facial Keypoints Detection* (eyes, brows, "
    "nose, mouth) for every face in a photo, at any in-plane angle, with what the network saw."
)
FACE_ORDER = "by rows from the top, left to right in each row"
FACES_LABEL = "Faces, numbered by rows, left to right (face score)"
HEATMAP_NOTE = (
    "**What the network sees:** each keypoint's heatmap over the face crop it was given; the decoded "
    "point is between the ticks. A tight bright spot is a sure point; a spread or a second spot is "
    "doubt. Dark gray: the crop reached past the photo's edge. *Zoom on each point* shows the middle "
    "half of the crop around each point. Click a tile to enlarge it."
)
VIDEO_HELP = (
    f"Upload a short clip ({FORMATS}): every face is followed from frame to frame (detected on the first frame and "
    "every 15 frames, its points smoothed over time) and keeps its **track** number throughout. You get "
    "the clip with the points drawn, each keypoint's x and y over time for the face you choose, and the "
    "results as JSON lines and CSV (one line per frame and face, as `fkp predict` writes them)."
)
VIDEO_LIMITS = video_limits_text(
    VIDEO_MAX_BYTES // 2**20,
    VIDEO_MAX_SECONDS,
    VIDEO_MAX_FRAMES,
    VIDEO_WORK_SIDE,
    VIDEO_BUDGET_SECONDS,
    STATE_SECONDS // 60,
    VIDEO_MAX_FACES,
)
CLIP_TYPES = [".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif"]
LIVE_HELP = (
    "Click *Click to Access Webcam*, allow the camera, then press *Record*: the keypoints follow your "
    f"face live. A stream stops after {LIVE_SECONDS // 60} minutes; press *Record* again to go on."
)
ABOUT = f"""
**How it works.** Faces are found by MediaPipe's BlazeFace detector (Google, Apache-2.0; converted to PyTorch and
shipped with fkp, so nothing is downloaded). It finds faces turned in-plane up to about ±45°, and each crop is
turned upright before a small stacked hourglass network predicts one heatmap per keypoint. It does not find full
profiles, and faces under about 64 pixels may be missed. A face score under {FACE_SCORE_THRESHOLD} is flagged: the
crop may not be a face. Up to {MAX_FACES} faces are shown per photo, numbered as one reads: {FACE_ORDER}
(a face joins a row when it overlaps the height of the row's first face); the photo's tags, the face views and
the table use the same numbers, and the JSON lists the faces in that order.
Results and files are kept for {FILE_SECONDS // 60} minutes.
"""
POINT_COLORS = {name: hex_color(KEYPOINT_COLORS[name]) for name in KEYPOINT_NAMES}
LAUNCH_OPTIONS = dict(max_file_size=MAX_UPLOAD, css=CSS, head=HEAD)


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
                        accurate = gr.Checkbox(
                            label="Accurate model (slower)",
                            value=False,
                            visible=offers_accurate_model(),
                            elem_id="accurate",
                        )
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
                    status = gr.Markdown(label="Status", elem_id="status")
                    # hidden, with its message alone above it, after an error or a photo without a face
                    with gr.Column(elem_id="panels") as panels:
                        annotated = gr.Image(
                            label="Keypoints",
                            format="jpeg",
                            interactive=False,
                            elem_id="annotated",
                            height=440,
                        )
                        views = gr.Gallery(
                            label=FACES_LABEL,
                            format="jpeg",
                            columns=3,
                            fit_columns=False,
                            object_fit="contain",
                            elem_id="faces",
                            buttons=[],
                        )
                        with gr.Row():
                            face = gr.Radio(
                                label="Heatmaps of face", choices=[], visible=False, elem_id="face-select", scale=2
                            )
                            with gr.Column(scale=1, min_width=200):
                                opacity = gr.Slider(
                                    0.0, 1.0, value=0.7, step=0.05, label="Heatmap opacity", elem_id="opacity"
                                )
                                zoom = gr.Checkbox(label="Zoom on each point", value=False, elem_id="zoom")
                        gr.Markdown(HEATMAP_NOTE, elem_classes="fkp-note")
                        heatmap_tiles = gr.Gallery(
                            label="Heatmaps, one per keypoint (click one to enlarge)",
                            show_label=False,
                            format="jpeg",
                            columns=5,
                            object_fit="contain",
                            elem_id="heatmaps",
                            buttons=[],
                        )
                        # the API's heatmaps, all 15 in one image; the page shows the tiles above
                        heatmap_view = gr.Image(
                            label="Heatmaps", format="jpeg", interactive=False, visible=False, elem_id="heatmap-grid"
                        )
                        coordinates = gr.Dataframe(
                            headers=TABLE_COLUMNS,
                            label="Coordinates (original-photo pixels)",
                            elem_id="table",
                            wrap=True,
                            max_height=420,
                            column_widths=["10%", "6%", "38%", "13%", "13%", "20%"],
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

        with gr.Tab("Video", elem_id="video-tab"):
            gr.Markdown(VIDEO_HELP)
            clip_state = gr.State(time_to_live=STATE_SECONDS)
            with gr.Row(elem_id="video-row"):
                with gr.Column(scale=2, min_width=320):
                    clip = gr.File(label="Clip", file_types=CLIP_TYPES, elem_id="clip", height=160)
                    gr.Markdown(VIDEO_LIMITS, elem_id="video-limits", elem_classes="fkp-note")
                with gr.Column(scale=3, min_width=320, visible=False, elem_id="video-results") as video_results:
                    video_status = gr.Markdown(VIDEO_HINT, elem_id="video-status")
                    with gr.Column(elem_id="video-panels") as video_panels:
                        annotated_clip = gr.Video(
                            label="Keypoints, faces labelled by track",
                            interactive=False,
                            loop=True,
                            elem_id="video-annotated",
                        )
                        track = gr.Dropdown(label="Plot the keypoints of", choices=[], elem_id="track-select")
                        plot_options = dict(
                            x="time (s)", color="keypoint", color_map=POINT_COLORS, colors_in_legend=[], height=280
                        )
                        plot_x = gr.LinePlot(
                            y="x (px)", label="x over time (pixels from the left)", elem_id="plot-x", **plot_options
                        )
                        plot_y = gr.LinePlot(
                            y="y (px)", label="y over time (pixels from the top)", elem_id="plot-y", **plot_options
                        )
                        gr.HTML(legend_html(), elem_id="video-legend")
                        clip_files = gr.File(
                            label="Downloads: JSON lines and CSV, one line per frame and face (the clip's pixels)",
                            file_count="multiple",
                            elem_id="video-downloads",
                        )

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
        page_outputs = [status, annotated, views, face, heatmap_tiles, coordinates, result_json, downloads, state]
        options = [image, whole_image, flip_test]  # the public API's inputs: the server's model
        photo_events = dict(concurrency_limit=PHOTO_CONCURRENCY, concurrency_id="photo", preprocess=False)
        api_button.click(analyse_upload, options, outputs, api_name="predict", **photo_events)
        for trigger in (image.change, whole_image.change, flip_test.change, accurate.change):
            trigger(
                analyse_on_page,
                [*options, accurate],
                [*page_outputs, results, panels],
                api_visibility="private",
                trigger_mode="always_last",
                **photo_events,
            )
        for trigger in (face.change, opacity.change, zoom.change):  # raw values: a typed 1.5 is clipped
            trigger(
                heatmap_tile_list,
                [state, face, opacity, zoom],
                heatmap_tiles,
                api_visibility="private",
                trigger_mode="always_last",
                concurrency_limit=HEATMAP_CONCURRENCY,
                concurrency_id="heatmaps",
                preprocess=False,
            )
        video_outputs = [video_status, annotated_clip, track, plot_x, plot_y, clip_files, clip_state]
        clip.change(
            analyse_video_on_page,
            [clip],
            [*video_outputs, video_results, video_panels],
            api_visibility="private",
            trigger_mode="always_last",
            show_progress_on=[clip, video_status],  # the clip's box is in sight before the first results
            concurrency_limit=VIDEO_CONCURRENCY,
            concurrency_id=VIDEO_EVENTS,
            preprocess=False,
        )
        track.change(
            video_plots,
            [clip_state, track],
            [plot_x, plot_y],
            api_visibility="private",
            trigger_mode="always_last",
            concurrency_limit=HEATMAP_CONCURRENCY,
            concurrency_id="plots",
            preprocess=False,
        )
        demo.unload(end_video_session)
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
