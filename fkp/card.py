"""Model cards: the README.md (and learning_curve.png) of a trained model folder, written from the
files that training leaves there (config.json, training_args.json, metrics.json,
train_summary.json) and, optionally, from `fkp.evaluate` figures. train.py writes it at every
export; ``fkp export FOLDER --data ...`` rewrites it with evaluation figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .data.card import KNOWN_SOURCES
from .data.splits import VAL_FRACTION
from .keypoints import KEYPOINT_NAMES
from .training_args import training_command


def read_record(folder: Path, name: str) -> dict:
    """A JSON record that training left in a model folder ({} when it is absent)."""
    path = folder / name
    return json.loads(path.read_text()) if path.exists() else {}


def learning_curve(
    history: list[dict], path: Path, title: str = "validation RMSE per epoch", average: dict | None = None
) -> None:
    """A PNG line plot of val_rmse per epoch, drawn with Pillow; ``average`` ({"epochs": [first, last],
    "val_rmse": x} from train.py's --average_last) adds the averaged weights as a bar over those epochs."""
    from PIL import Image, ImageDraw

    width, height, left, right, top, bottom = 720, 400, 70, 20, 40, 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    epochs = np.array([h["epoch"] for h in history], dtype=float)
    rmse = np.array([h["val_rmse"] for h in history], dtype=float)
    lowest = min(rmse.min(), average["val_rmse"]) if average else rmse.min()
    low, high = float(np.floor(lowest * 2) / 2), float(np.ceil(min(rmse.max(), lowest * 3) * 2) / 2)
    high = max(high, low + 0.5)
    first, last = epochs.min(), max(epochs.max(), epochs.min() + 1)

    def to_xy(epoch: float, value: float) -> tuple[float, float]:
        x = left + (epoch - first) / (last - first) * (width - left - right)
        y = top + (1 - (min(value, high) - low) / (high - low)) * (height - top - bottom)
        return x, y

    draw.text((left, 12), title, fill="black")
    for value in np.arange(low, high + 1e-9, 0.25 if high - low <= 2 else 0.5):
        _, y = to_xy(first, value)
        draw.line([(left, y), (width - right, y)], fill=(225, 225, 225))
        draw.text((8, y - 6), f"{value:.2f} px", fill="black")
    step = max(1, int(np.ceil((last - first) / 10)))
    for epoch in range(int(first), int(last) + 1, step):
        x, _ = to_xy(epoch, low)
        draw.line([(x, height - bottom), (x, height - bottom + 4)], fill="black")
        draw.text((x - 6, height - bottom + 8), str(epoch), fill="black")
    draw.text((width // 2 - 20, height - 22), "epoch", fill="black")
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    points = [to_xy(e, r) for e, r in zip(epochs, rmse)]
    if len(points) > 1:
        draw.line(points, fill=(200, 40, 40), width=2)
    best = int(np.argmin(rmse))
    for i, (x, y) in enumerate(points):
        radius = 4 if i == best else 2
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(200, 40, 40))
    bx, by = points[best]
    draw.text(
        (min(bx + 6, width - right - 120), by - 16),
        f"best {rmse[best]:.3f} px (epoch {int(epochs[best])})",
        fill=(200, 40, 40),
    )
    if average:
        (x0, y), (x1, _) = (
            to_xy(average["epochs"][0], average["val_rmse"]),
            to_xy(average["epochs"][1], average["val_rmse"]),
        )
        draw.line([(x0, y), (x1, y)], fill=(30, 90, 200), width=3)
        draw.text(
            (max(left + 4, x0 - 40), y + 6),
            f"mean of epochs {average['epochs'][0]}-{average['epochs'][1]}: {average['val_rmse']:.3f} px",
            fill=(30, 90, 200),
        )
    image.save(path)


def _metrics_table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| | RMSE (px) | NME |", "|---|---|---|"]
    lines += [f"| {label} | {m['rmse']:.3f} | {m['nme']:.4f} |" for label, m in rows]
    return "\n".join(lines)


def _per_keypoint_table(metrics: dict) -> str:
    lines = ["| keypoint | RMSE (px) | NME | points |", "|---|---|---|---|"]
    for name in KEYPOINT_NAMES:
        row = metrics["per_keypoint"][name]
        lines.append(f"| `{name}` | {row['rmse']:.3f} | {row['nme']:.4f} | {row['count']} |")
    return "\n".join(lines)


def write_model_card(folder: str | Path, evaluation: dict | None = None, notes: str = "") -> Path:
    """Write README.md (a Hugging Face model card) and learning_curve.png into a model folder.

    ``evaluation``: optional {"command": str, "metrics": dict, "flip_metrics": dict} from
    `fkp.evaluate`; without it, the card reports the validation metrics training recorded.
    ``notes``: extra Markdown (e.g. measured speed) placed before the limitations.
    """
    from huggingface_hub import ModelCard, ModelCardData

    folder = Path(folder)
    config, args = read_record(folder, "config.json"), read_record(folder, "training_args.json")
    metrics, summary = read_record(folder, "metrics.json"), read_record(folder, "train_summary.json")
    history = summary.get("history", [])
    if history:
        learning_curve(history, folder / "learning_curve.png", average=summary.get("average"))

    dataset = str(args.get("dataset", "unknown"))
    provenance = next(
        (text for key, text in KNOWN_SOURCES.items() if key in dataset), f"`{dataset}` (see its dataset card)."
    )
    shift = args.get("label_x_shift") or 0.0
    correction = (
        (
            f"\n\n**Label correction:** every x label was moved by {shift:+.2f} photo pixels when the data was read "
            "(`--label_x_shift`). dlib's 68-point predictor (-1.36 px, in every region of the face, no common shift "
            "in y) and fkp's own flip-trained model (-1.12 px) agree that this data's x labels sit about 1.3 px to "
            "the right of the points; a horizontal flip turns a fixed shift into plus or minus that shift, "
            "so a model trained with flips cannot learn it and pays for it in every figure. Reproduce the "
            "measurement with `python benchmarks/label_offset.py`."
        )
        if shift
        else ""
    )
    epochs_run = summary.get("epochs", metrics.get("epoch"))
    wall = summary.get("wall_seconds")
    best_epoch = metrics.get("epoch")

    if evaluation:
        figures = _metrics_table(
            [("this model", evaluation["metrics"])]
            + (
                [("with flip test-time augmentation", evaluation["flip_metrics"])]
                if evaluation.get("flip_metrics")
                else []
            )
        )
        figures_source = f"From `{evaluation['command']}` (add `--flip-test` for the second row)."
        per_keypoint = evaluation["metrics"]
        n_images = evaluation["metrics"].get("n_images")
    elif metrics:
        figures = _metrics_table([("this model", metrics)])
        figures_source = "Recorded by train.py on its validation split at the exported epoch."
        per_keypoint = metrics
        n_images = metrics.get("n_images")
    else:
        figures, figures_source, per_keypoint, n_images = "No metrics recorded.", "", None, None

    stacks = int(config.get("num_stacks", 1))
    design = (
        (
            ("One hourglass" if stacks == 1 else f"{stacks} stacked hourglasses")
            + f", depth {config.get('depth')}, {config.get('channels')} channels, "
            f"'{config.get('stem')}' stem with output stride "
            f"{config.get('stride')} ({96 // int(config.get('stride', 1))}x"
            f"{96 // int(config.get('stride', 1))} heatmaps), Gaussian targets of sigma {config.get('sigma')} cells, "
            + (
                "sub-pixel decoding: a blur by the target sigma (DARK-style modulation), "
                "then a quadratic fit of the log-heatmap"
                if config.get("refine")
                else "argmax decoding"
            )
        )
        if config
        else "see config.json"
    )
    augmentation = (
        "none"
        if args.get("no_augment")
        else (
            f"horizontal flip with left/right swap, rotation ±{args.get('rotation_deg', 15):g}°, "
            f"zoom 1 ± {args.get('scale_jitter', 0.1):g}, "
            f"shift ±5 px, brightness, contrast, blur"
            + (f", random occlusion (p = {args['occlusion_prob']:g})" if args.get("occlusion_prob") else "")
        )
    )

    sections = [
        "# fkp: 15 facial keypoints with a stacked hourglass",
        "A small heatmap model for the 15 keypoints of Kaggle's *Facial Keypoints Detection* (eye centres and "
        'corners, brow ends, nose tip, mouth corners, top and bottom lip; "left" is the subject\'s left). '
        "It is the model behind the fkp library and its Gradio demo.",
        "## Use\n\n```python\nfrom fkp import FaceKeypoints\n\n"
        'predictor = FaceKeypoints("path/or/hub-id")              # this folder, or its Hub copy\n'
        "keypoints, confidence, heatmaps = predictor.predict_frames(frames)  # (N, 96, 96) uint8 face crops\n"
        'faces = predictor.detect("photo.jpg")                          # whole photos, every face\n```\n\n'
        "or `fkp predict photos/ --out results.jsonl --model path/or/hub-id`. **Input:** a 96x96 grayscale face "
        "crop in [0, 1], framed like Kaggle's crops. **Output:** 15 heatmaps, decoded to (x, y) in frame pixels "
        "(x right, y down, centre of the top-left pixel at (0, 0)) with a confidence (the heatmap peak).",
        f"## Design\n\n{design}"
        + ("; intermediate supervision on every stack" if stacks > 1 else "")
        + ". Full configuration: `config.json`."
        + (
            "\n\n**Keypoint offsets:** config.json carries `keypoint_offsets` and `flip_keypoint_offsets`, "
            "this model's mean error per keypoint (frame pixels) on its training people, measured by "
            "`fkp calibrate keypoints` and subtracted "
            "from every decoded keypoint by fkp (without and with flip test). Decoding the heatmaps yourself (ONNX), "
            "subtract them too. train.py's per-epoch figures and `metrics.json` are before this step."
            if config.get("keypoint_offsets")
            else ""
        ),
        f"## Training data and provenance\n\n{provenance}{correction}\n\n**Split:** `{dataset}` is split by person "
        f'(never by frame): a person is in validation when md5("0:" + name) falls in the lowest '
        f"{args.get('val_fraction', VAL_FRACTION):.0%}. `fkp evaluate --split val` selects exactly these people.",
        f"## Training\n\n```bash\n{training_command(args)}\n```\n\nAugmentation: {augmentation}. AdamW (lr "
        f"{args.get('learning_rate')}, weight decay {args.get('weight_decay')}) with warm-up and a cosine schedule, "
        f"batch {args.get('batch_size')} per process, a foreground-weighted heatmap MSE summed over the stacks, seed "
        f"{args.get('seed')}. The run took {epochs_run} epochs"
        + (f" in {wall / 60:.0f} minutes" if wall else "")
        + (
            f"; the exported weights are the mean of the weights at the end of epochs {metrics['averaged_epochs'][0]}-"
            f"{metrics['averaged_epochs'][1]} (`--average_last`, stochastic weight averaging), "
            "which scored lower than every single epoch"
            if metrics.get("averaged_epochs")
            else f"; the exported weights are from epoch {best_epoch}, the one with the lowest validation RMSE"
            if best_epoch
            else ""
        )
        + ". All arguments: `training_args.json`; per-epoch history: `train_summary.json`."
        + (
            f" The run started from the weights of `{args['init_from']}` (`--init_from`: a fresh optimizer and schedule"
            + (
                "".join(
                    f", grown to {args[k]} {k.replace('num_', '')}" for k in ("channels", "num_stacks") if args.get(k)
                )
                + " by `fkp.model.grow`, which keeps the saved model's heatmaps"
                if any(args.get(k) for k in ("channels", "num_stacks"))
                else ""
            )
            + "); the history and the curve are this run's."
            if args.get("init_from")
            else ""
        ),
        ("## Learning curve\n\n![validation RMSE per epoch](learning_curve.png)" if history else ""),
        f"## Validation accuracy\n\n{figures_source} RMSE is Kaggle's metric in pixels of the 96x96 frame; NME is the "
        f"point error divided by the distance between the outer eye corners."
        + (f" {n_images} validation frames." if n_images else "")
        + f"\n\n{figures}",
        (
            f"### Per keypoint\n\n{_per_keypoint_table(per_keypoint)}"
            if per_keypoint and "per_keypoint" in per_keypoint
            else ""
        ),
        notes,
        "## Limitations\n\n"
        "- Trained on frames of 282 people from YouTube videos: mostly frontal, adult faces, limited lighting and "
        "ethnic variety; accuracy on other populations and conditions is not measured here.\n"
        "- Expects a face framed like Kaggle's 96x96 crops; whole photos go through a face detector and crop "
        "(`FaceKeypoints.detect`), and faces the detector misses get no keypoints.\n"
        "- Full profiles, strong occlusion and faces rotated far from upright are outside the training data.\n"
        "- The confidence is the heatmap peak, not a calibrated probability.\n"
        "- For research and demonstration; not for identifying people or for decisions about them.",
        "## Licence\n\nMIT (the fkp code and these weights). The training frames come from YouTube Faces via a "
        "public course dataset; check its terms before redistributing data derived from it.",
    ]
    card = ModelCard.from_template(
        ModelCardData(
            library_name="fkp",
            license="mit",
            pipeline_tag="keypoint-detection",
            tags=["facial-keypoints", "keypoint-detection", "stacked-hourglass", "pytorch_model_hub_mixin", "gradio"],
        ),
        template_str="---\n{{ card_data }}\n---\n\n" + "\n\n".join(s for s in sections if s) + "\n",
    )
    path = folder / "README.md"
    card.save(path)
    return path
