"""fkp demo: upload a photo (or use the webcam / clipboard) and get the 15 Kaggle facial keypoints
of every face, with heatmaps, a table and JSON/CSV downloads.

    fkp demo [--port 7860]             # or `python app.py` in the repository (the Space's entry point)
    FKP_MODEL=runs/fkp fkp demo        # another model: a local folder or a Hub model id
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

try:
    import gradio as gr  # noqa: E402
except ImportError as error:  # the demo is an optional part of an installed fkp
    raise ImportError("the fkp demo needs Gradio: pip install 'fkp[demo]' (or pip install -r requirements.txt)") from error
import numpy as np  # noqa: E402

from .api import DEFAULT_MODEL, FaceKeypoints, default_model_source  # noqa: E402
from .keypoints import KEYPOINT_COLORS, KEYPOINT_NAMES  # noqa: E402
from .photo import FACE_SCORE_THRESHOLD, NotAnImageError, default_detector, load_photo, predict_photo  # noqa: E402
from .render import combined_overlay, display_scale, draw_faces, hex_color, keypoint_overlays, to_display  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"  # in a repository checkout / Space; absent when pip-installed
TABLE_COLUMNS = ["face", "keypoint", "x", "y", "confidence"]
PREDICTOR = FaceKeypoints(default_model_source())
DETECTOR = default_detector()


def analyse(image_path: str | None, whole_image: bool = False, opacity: float = 0.6, flip_test: bool = False):
    """Run the whole pipeline on one image file.

    Returns (status markdown, annotated image, combined heatmap overlay, gallery of per-keypoint
    overlays, coordinate table, [JSON, CSV] files, state for re-rendering the overlay).
    """
    if not image_path:
        raise gr.Error("Upload a photo, take one with the webcam or paste one from the clipboard.")
    try:
        photo = load_photo(image_path)
    except NotAnImageError as error:
        raise gr.Error(str(error)) from None
    faces = predict_photo(PREDICTOR, photo, DETECTOR, whole_image=bool(whole_image), flip_test=bool(flip_test))
    height, width = photo.shape[:2]
    if not faces:
        status = (f"**No face found** in this {width}x{height} image. If it is already a close face crop "
                  "(like Kaggle's 96x96 frames), tick *Treat the whole image as one face* and run again.")
        return status, None, None, [], empty_table(), None, None

    scale = display_scale(photo)
    annotated = draw_faces(photo, faces, scale)
    radius = max(3.0, min(annotated.shape[:2]) / 90)
    annotations = [
        ((round(x - radius), round(y - radius), round(x + radius), round(y + radius)), name)
        for face in faces for name, (x, y) in zip(KEYPOINT_NAMES, to_display(face.keypoints, scale))
    ]
    gallery = [
        (image, f"face {number} · {name} · {confidence:.2f}")
        for number, face in enumerate(faces, start=1)
        for image, name, confidence in zip(keypoint_overlays(face, PREDICTOR.model.stride), KEYPOINT_NAMES, face.confidence)
    ]
    rows = [[number, name, round(float(x), 2), round(float(y), 2), round(float(c), 3)]
            for number, face in enumerate(faces, start=1) for name, (x, y), c in zip(KEYPOINT_NAMES, face.keypoints, face.confidence)]
    files = write_downloads(image_path, width, height, faces, rows)
    state = {"photo": photo, "faces": faces, "scale": scale}
    kind = "image treated as one face" if whole_image else f"{len(faces)} face{'s' if len(faces) > 1 else ''} found"
    status = f"**{kind}** in this {width}x{height} image. Coordinates are in original-photo pixels (x right, y down)."
    doubtful = [f"face {number} ({face.face_score:.2f})" for number, face in enumerate(faces, start=1) if not face.looks_like_a_face]
    if doubtful:
        status += (f"\n\n⚠️ **This may not be a face:** low face score for {', '.join(doubtful)}, under {FACE_SCORE_THRESHOLD}. "
                   "The keypoints are a guess; try a photo where the face is clearly visible.")
    return (status, (annotated, annotations), overlay(state, opacity), gallery, table(rows), files, state)


def analyse_upload(upload: dict | None, whole_image: bool = False, opacity: float = 0.6, flip_test: bool = False):
    """`analyse` on the raw payload of the image input (the event runs with preprocess=False, so a
    file that is not an image reaches `load_photo`, which names it, instead of failing inside Gradio)."""
    if not upload:
        return analyse(None)
    url = upload.get("url") or ""
    if url.startswith("data:"):  # webcam / clipboard captures may arrive inline
        import base64

        folder = Path(tempfile.mkdtemp(prefix="fkp-"))
        path = folder / "capture.png"
        path.write_bytes(base64.b64decode(url.split(",", 1)[1]))
        return analyse(str(path), whole_image, opacity, flip_test)
    path = received_file(upload.get("path"))
    if upload.get("orig_name"):  # keep the user's file name for messages and downloads
        named = Path(tempfile.mkdtemp(prefix="fkp-")) / Path(upload["orig_name"]).name
        named.symlink_to(path.resolve())
        path = named
    return analyse(str(path), whole_image, opacity, flip_test)


def received_file(path: str | None) -> Path:
    """The path of a file that Gradio itself received or cached (its upload folder, or the shipped
    examples); anything else a request names is refused without touching it, so the demo never reads
    a server file, nor tells whether one exists."""
    from gradio.utils import get_upload_folder

    roots = [Path(get_upload_folder()).resolve(), EXAMPLES.resolve()]
    resolved = Path(os.path.abspath(str(path or "")))  # no filesystem access before the check
    if path and any(resolved.is_relative_to(root) for root in roots):
        return resolved
    raise gr.Error("This image did not arrive as an upload. Upload a photo, take one with the webcam or paste one from the clipboard.")


def overlay(state: dict | None, opacity: float) -> np.ndarray | None:
    if not state:
        return None
    return combined_overlay(state["photo"], state["faces"], PREDICTOR.model.stride, float(opacity), state["scale"])


def table(rows):
    import pandas as pd

    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def empty_table():
    return table([])


def model_name() -> str:
    """What the downloads say the model is: a Hub id as it is, never a server path."""
    source = default_model_source()
    if source == str(DEFAULT_MODEL):
        return "fkp shipped weights"
    return Path(source).name if Path(source).exists() else source


def write_downloads(image_path: str, width: int, height: int, faces, rows) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="fkp-"))
    stem = Path(image_path).stem or "photo"
    payload = {"image": Path(image_path).name, "width": width, "height": height, "model": model_name(),
               "coordinates": "original-photo pixels, x right, y down, pixel centres at integers",
               "faces": [face.as_dict() for face in faces]}
    json_path = folder / f"{stem}_keypoints.json"
    json_path.write_text(json.dumps(payload, indent=2))
    csv_path = folder / f"{stem}_keypoints.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TABLE_COLUMNS)
        writer.writerows(rows)
    return [str(json_path), str(csv_path)]


def build_demo() -> gr.Blocks:
    color_map = {name: hex_color(KEYPOINT_COLORS[name]) for name in KEYPOINT_NAMES}
    with gr.Blocks(title="fkp: facial keypoints") as demo:
        gr.Markdown("# fkp: facial keypoints\nFind faces and their 15 keypoints (eyes, brows, nose, mouth) with a stacked hourglass network. "
                    "Hover a point to see its name; the gallery shows what the network \"sees\" for each keypoint.\n\n"
                    "Faces are found by MediaPipe's BlazeFace detector (Google, Apache-2.0; converted to PyTorch and shipped "
                    "with fkp, so nothing is downloaded). It finds faces turned in-plane (measured up to ±45°) and turns each "
                    "crop upright; it does not find full profiles, and faces under about 64 pixels may be missed. A face score "
                    "under 0.55 is flagged: the crop may not be a face.")
        state = gr.State()
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(label="Photo", sources=["upload", "webcam", "clipboard"], type="filepath", elem_id="photo")
                whole_image = gr.Checkbox(label="Treat the whole image as one face", value=False)
                flip_test = gr.Checkbox(label="Flip test-time augmentation (more accurate, 2x slower)", value=False)
                run = gr.Button("Find keypoints", variant="primary", elem_id="run")
                gr.Examples(examples=[[str(p)] for p in sorted(EXAMPLES.glob("*.jpg"))], inputs=[image], label="Examples (click one)")
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id="status")
                annotated = gr.AnnotatedImage(label="Keypoints (hover for names)", color_map=color_map, elem_id="annotated")
                with gr.Row():
                    combined = gr.Image(label="All 15 heatmaps", elem_id="combined", interactive=False)
                    opacity = gr.Slider(0.0, 1.0, value=0.6, step=0.05, label="Heatmap opacity")
        gallery = gr.Gallery(label="Heatmap per keypoint", columns=5, height="auto", elem_id="heatmaps")
        with gr.Row():
            coordinates = gr.Dataframe(headers=TABLE_COLUMNS, label="Coordinates (original-photo pixels)", elem_id="table")
            downloads = gr.File(label="Download JSON / CSV", file_count="multiple", elem_id="downloads")
        outputs = [status, annotated, combined, gallery, coordinates, downloads, state]
        inputs = [image, whole_image, opacity, flip_test]
        run.click(analyse_upload, inputs, outputs, api_name="predict", preprocess=False)
        image.upload(analyse_upload, inputs, outputs, api_name=False, preprocess=False)
        opacity.release(overlay, [state, opacity], combined, api_name=False)
    return demo


demo = build_demo()


def main(argv: list[str] | None = None, prog: str = "python -m fkp.demo") -> int:
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description="Run the fkp Gradio demo.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    args = parser.parse_args(argv)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share)
    return 0


if __name__ == "__main__":
    main()
