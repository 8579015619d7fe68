"""Model cards: the README.md (and learning_curve.png) of a trained model folder, written from the
files that training leaves there (config.json, training_args.json, metrics.json,
train_summary.json) and, optionally, from `fkp.evaluate` figures. train.py writes it at every
export; ``fkp export FOLDER --data ...`` rewrites it with evaluation figures (per source for a run
on several sources, with the whole-photo pipeline's figures where asked)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .data.card import KNOWN_SOURCES
from .data.conventions import LABEL_CORRECTIONS
from .data.sources import source_name
from .data.splits import VAL_FRACTION
from .keypoints import KEYPOINT_NAMES
from .options import per_source
from .training_args import training_command

HELEN_AFW68 = (
    "`helen_afw68`: 1,207 faces in in-the-wild photos with 300-W's human 68-point annotations (Sagonas et al., "
    "2013): HELEN's training set (870 faces) and AFW (337), each a square crop around the face (twice its "
    "landmark box, at most 320 px). HELEN's test set and the other 300-W test photos were held back for "
    "acceptance testing: nothing was trained, tuned or chosen on them. The 68 landmarks are mapped onto "
    "Kaggle's 15 keypoints and each face is cropped into a 96x96 grayscale frame as for ytf68."
)
# What a model card says about a data source, by its name (`source_name`; Kaggle's files by their name
# in the path): what it is ("about", else `KNOWN_SOURCES`), its terms of use, how its split groups rows,
# and a short description for the limitations. "research": research data, whose terms a model inherits.
SOURCE_NOTES: dict[str, dict] = {
    "ytf68": {
        "about": KNOWN_SOURCES["ytf68"],
        "terms": "YouTube Faces is a research dataset; these frames are as published for a public facial-keypoints "
        "course. A model trained on them inherits its terms: check them before any use beyond research, and "
        "before redistributing data derived from them.",
        "research": True,
        "split": "by person (never by frame: a person's frames from both tables are on one side)",
        "unit": "frames",
        "summary": "frames of 282 people from YouTube videos: mostly frontal, adult faces, limited lighting and "
        "ethnic variety",
    },
    "helen_afw68": {
        "about": HELEN_AFW68,
        "terms": "HELEN's and AFW's photos come from Flickr and are distributed for research; 300-W's annotations "
        "are for research use. A model trained on them inherits those terms: it is for research use too.",
        "research": True,
        "split": "by source photo (the faces of one photo are on one side; `fkp.data.person_of`)",
        "unit": "faces",
        "summary": "1,207 faces in Flickr photos (HELEN's training set and AFW): more varied in pose, age and "
        "lighting, but few full profiles",
    },
    **{
        kaggle: {
            "about": KNOWN_SOURCES[kaggle],
            "terms": "Kaggle competition data: the competition's rules govern its use.",
            "summary": "Kaggle's 96x96 training crops",
        }
        for kaggle in ("training.zip", "training.csv")
    },
}
PALETTE = [(200, 40, 40), (30, 90, 200), (30, 150, 60), (210, 120, 0), (140, 60, 170), (90, 90, 90)]
AVERAGE_COLOUR = (30, 90, 200)  # the bar of --average_last's averaged weights


def read_record(folder: Path, name: str) -> dict:
    """A JSON record that training left in a model folder ({} when it is absent)."""
    path = folder / name
    return json.loads(path.read_text()) if path.exists() else {}


def run_sources(args: dict) -> list[dict]:
    """The sources a run trained on, from its training_args.json: one {"data", "name", "label_x_shift",
    "label_correction", "crop"} each. ``dataset`` is a list (or, in older runs, one string); the label
    arguments and the crop one value or one per source (older runs: a float, no correction, no crop)."""
    data = args.get("dataset") or []
    data = [data] if isinstance(data, str) else [str(d) for d in data]

    def values(key: str, default: float | str) -> list:
        value = default if args.get(key) is None else args[key]
        return per_source(value, len(data)) if data else []

    return [
        {
            "data": d,
            "name": source_name(d),
            "label_x_shift": float(shift or 0.0),
            "label_correction": fix or "none",
            "crop": crop or "labels",
        }
        for d, shift, fix, crop in zip(
            data, values("label_x_shift", 0.0), values("label_correction", "none"), values("crop", "labels")
        )
    ]


def distill_weights(args: dict) -> str:
    """A run's --distill_weight in words: "weight 0.5", or per source "weight 0 on `ytf68`, 0.5 on `helen_afw68`"."""
    sources = run_sources(args)
    weights = per_source(args.get("distill_weight", 0.5), len(sources) or None)
    if len(set(weights)) == 1:
        return f"weight {weights[0]:g}"
    return "weight " + ", ".join(f"{w:g} on `{s['name']}`" for w, s in zip(weights, sources))


def source_notes(source: dict) -> dict:
    """`SOURCE_NOTES` for a source of `run_sources` (by name, else by a known name in its path; {} if unknown)."""
    if source["name"] in SOURCE_NOTES:
        return SOURCE_NOTES[source["name"]]
    return next((notes for key, notes in SOURCE_NOTES.items() if key in source["data"]), {})


def _tick_step(span: float) -> float:
    """A round axis step giving about 4-8 ticks over ``span``."""
    raw = span / 6
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _plot_panel(
    draw,
    box: tuple[int, int, int, int],
    epochs: np.ndarray,
    series: list,
    title: str,
    unit: str,
    digits: int,
    average: dict | None = None,
) -> None:
    """One line plot into ``box`` (left, top, right, bottom: the axes) of a Pillow drawing.
    ``series``: (label, values per epoch (NaN: none), colour); each series' lowest point is marked, and
    named in a legend. ``average``: (first, last, value) drawn as a bar, also in the legend."""
    left, top, right, bottom = box
    finite = np.concatenate([values[np.isfinite(values)] for _, values, _ in series])
    lowest = min(finite.min(), average[2]) if average else finite.min()
    span = max(min(finite.max(), lowest * 3) - lowest, abs(lowest) * 0.1, 1e-6)
    step = _tick_step(span)
    # a margin under the lowest point
    low, high = math.floor((lowest - span / 8) / step) * step, math.ceil(min(finite.max(), lowest * 3) / step) * step
    high = max(high, low + step)
    first, last = epochs.min(), max(epochs.max(), epochs.min() + 1)

    def to_xy(epoch: float, value: float) -> tuple[float, float]:
        x = left + (epoch - first) / (last - first) * (right - left)
        return x, top + (1 - (min(value, high) - low) / (high - low)) * (bottom - top)

    draw.text((left, top - 28), title, fill="black")
    for value in np.arange(low, high + step / 1000, step):
        _, y = to_xy(first, value)
        draw.line([(left, y), (right, y)], fill=(225, 225, 225))
        draw.text((4, y - 6), f"{value:.{digits}f}{unit}", fill="black")
    tick = max(1, int(np.ceil((last - first) / 10)))
    for epoch in range(int(first), int(last) + 1, tick):
        x, _ = to_xy(epoch, low)
        draw.line([(x, bottom), (x, bottom + 4)], fill="black")
        draw.text((x - 6, bottom + 8), str(epoch), fill="black")
    draw.text(((left + right) // 2 - 20, bottom + 24), "epoch", fill="black")
    draw.rectangle([left, top, right, bottom], outline="black")
    entries = []  # (colour, text) for the legend
    for label, values, colour in series:
        points = [to_xy(e, v) for e, v in zip(epochs, values) if np.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        best = int(np.nanargmin(values))
        for x, y in points:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        bx, by = to_xy(epochs[best], values[best])
        draw.ellipse([bx - 4, by - 4, bx + 4, by + 4], fill=colour)
        name = f"{label}: " if label else ""
        entries.append((colour, f"{name}best {values[best]:.{digits + 1}f}{unit} (epoch {int(epochs[best])})"))
    if average:
        (x0, y), (x1, _) = to_xy(average[0], average[2]), to_xy(average[1], average[2])
        draw.line([(x0, y), (x1, y)], fill=AVERAGE_COLOUR, width=3)
        entries.append((AVERAGE_COLOUR, f"mean of epochs {average[0]}-{average[1]}: {average[2]:.{digits + 1}f}{unit}"))
    # the legend in the top right corner, on white: labels beside the points overlapped the curves
    widest = max(draw.textlength(text) for _, text in entries)
    x0, y0 = right - widest - 44, top + 6
    draw.rectangle([x0 - 6, y0 - 4, right - 6, y0 + 16 * len(entries)], fill="white", outline=(200, 200, 200))
    for index, (colour, text) in enumerate(entries):
        y = y0 + 16 * index
        draw.line([(x0, y + 6), (x0 + 20, y + 6)], fill=colour, width=3)
        draw.text((x0 + 26, y), text, fill=colour)


def history_sources(history: list[dict]) -> list[str]:
    """The source names with per-source validation figures (``val_nme/NAME``) in a run's history."""
    names: dict[str, None] = {}
    for record in history:
        names.update((key.split("/", 1)[1], None) for key in record if key.startswith("val_nme/"))
    return list(names)


def learning_curve(
    history: list[dict], path: Path, title: str = "validation RMSE per epoch", average: dict | None = None
) -> None:
    """A PNG line plot of val_rmse per epoch, drawn with Pillow; ``average`` ({"epochs": [first, last],
    "val_rmse": x} from train.py's --average_last) adds the averaged weights as a bar over those epochs.
    A run on several sources gets a second panel below: each source's validation NME per epoch (NME, being
    scale-free, compares sources whose faces differ in size)."""
    from PIL import Image, ImageDraw

    names = history_sources(history)
    width, panel = 720, 400
    image = Image.new("RGB", (width, panel * (2 if names else 1)), "white")
    draw = ImageDraw.Draw(image)
    epochs = np.array([h["epoch"] for h in history], dtype=float)

    def column(key: str) -> np.ndarray:
        return np.array([h.get(key, np.nan) for h in history], dtype=float)

    bar = (average["epochs"][0], average["epochs"][1], average["val_rmse"]) if average else None
    overall = title + (" (all sources' validation frames)" if names else "")
    _plot_panel(
        draw, (70, 40, width - 20, panel - 50), epochs, [("", column("val_rmse"), PALETTE[0])], overall, " px", 2, bar
    )
    if names:
        series = [(name, column(f"val_nme/{name}"), PALETTE[(i + 1) % len(PALETTE)]) for i, name in enumerate(names)]
        _plot_panel(
            draw,
            (70, panel + 40, width - 20, 2 * panel - 50),
            epochs,
            series,
            "validation NME per source (error / outer-eye-corner distance)",
            "",
            3,
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


def _per_keypoint_by_source(rows: list[tuple[str, dict]]) -> str:
    """Per-keypoint RMSE and NME with two columns per source."""
    lines = [
        "| keypoint | " + " | ".join(f"`{name}` RMSE (px) | `{name}` NME" for name, _ in rows) + " |",
        "|---|" + "---|---|" * len(rows),
    ]
    for key in KEYPOINT_NAMES:
        cells = [f"{m['per_keypoint'][key]['rmse']:.3f} | {m['per_keypoint'][key]['nme']:.4f}" for _, m in rows]
        lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _commands(commands: list[str]) -> str:
    return "```bash\n" + "\n".join(commands) + "\n```"


def _largest_corrections(name: str, count: int = 3) -> str:
    """The ``count`` largest keypoint corrections of LABEL_CORRECTIONS[name], in words."""
    values = np.asarray(LABEL_CORRECTIONS[name])
    largest = np.argsort(-np.hypot(values[:, 0], values[:, 1]))[:count]
    return ", ".join(f"`{KEYPOINT_NAMES[i]}` ({values[i, 0]:+.2f}, {values[i, 1]:+.2f})" for i in largest)


def _labels(source: dict) -> str:
    """How a source's labels were read, in one sentence."""
    shift, fix = source["label_x_shift"], source["label_correction"]
    steps = [f"every x label moved by {shift:+.2f} photo pixels (`--label_x_shift {shift:g}`)"] if shift else []
    if fix in LABEL_CORRECTIONS and fix != "none":
        steps.append(f"each keypoint by the `{fix}` correction of `fkp.data.conventions` (`--label_correction {fix}`)")
    elif fix != "none":
        steps.append(f"each keypoint by the correction in `{fix}` (`--label_correction`, 96x96 frame pixels)")
    if not steps:
        return "read as given" + (" (300-W's annotation)" if source["name"] == "helen_afw68" else "") + "."
    return "moved onto the model's convention where the data is read: " + ", then ".join(steps) + "."


def _convention(sources: list[dict]) -> str:
    """The label convention paragraph of a run that follows 300-W's ("" for one that does not)."""
    corrected = [s for s in sources if s["label_correction"] != "none" or s["label_x_shift"]]
    if not any(s["name"] == "helen_afw68" or s["label_correction"] != "none" for s in sources):
        return ""
    text = (
        "### Label convention\n\nThis model follows **300-W's label convention**: the human annotation of HELEN, "
        "AFW, LFPW and iBUG photos at their full resolution, the reference most face-landmark research reports "
        "against. "
        + " ".join(
            f"`{s['name']}`'s labels are "
            + ("moved onto it where the data is read (its **Labels** above)." if s in corrected else _labels(s))
            for s in sources
        )
    )
    if any(s["label_correction"] == "ytf68" for s in corrected):
        text += (
            " ytf68's x shift and per-keypoint correction were both measured with `benchmarks/label_offset.py` "
            "against dlib's 68-point predictor, which was trained on 300-W. The x shift is in photo pixels: "
            "ytf68's x labels sit about 1.3 px to the right "
            "of the points in every region of the face (dlib: -1.36 px; no common shift in y), a labelling "
            "artefact that does not scale with the face, and a horizontal flip in training turns a fixed shift "
            "into plus or minus that shift, which a model cannot learn. The per-keypoint correction, in pixels of "
            "the 96x96 frame, is dlib's mean error per keypoint on ytf68's training people minus its mean error on "
            "helen_afw68's training faces, so that only the difference between the two sources' conventions is "
            "corrected, not dlib's own bias; the largest, added to ytf68's labels: "
            + _largest_corrections("ytf68")
            + " (the inner brow ends are placed further apart in ytf68, its nose tip lower)."
        )
    return text


def _provenance(sources: list[dict], args: dict, counts: dict[str, int]) -> str:
    """The "Training data and provenance" section: one paragraph for a run on one source read as before,
    else a subsection per source (what it is, its terms, its labels and split) and the label convention."""
    fraction = args.get("val_fraction", VAL_FRACTION)
    rule = f'md5("0:" + name) falls in the lowest {fraction:.0%}'
    if len(sources) == 1 and not _convention(sources):
        source = sources[0]
        shift = source["label_x_shift"]
        correction = (
            f"\n\n**Label correction:** every x label was moved by {shift:+.2f} photo pixels when the data was read "
            "(`--label_x_shift`). dlib's 68-point predictor (-1.36 px, in every region of the face, no common shift "
            "in y) and fkp's own flip-trained model (-1.12 px) agree that this data's x labels sit about 1.3 px to "
            "the right of the points; a horizontal flip turns a fixed shift into plus or minus that shift, "
            "so a model trained with flips cannot learn it and pays for it in every figure. Reproduce the "
            "measurement with `python benchmarks/label_offset.py`."
            if shift
            else ""
        )
        about = source_notes(source).get("about", f"`{source['data']}` (see its dataset card).")
        return (
            f"## Training data and provenance\n\n{about}{correction}\n\n**Split:** `{source['data']}` is split by "
            f"person (never by frame): a person is in validation when {rule}. "
            "`fkp evaluate --split val` selects exactly these people."
        )
    if not sources:
        return "## Training data and provenance\n\nThe run recorded no `--dataset`."
    parts = [
        "## Training data and provenance\n\n"
        + (
            f"The model was trained on {len(sources)} sources together. Each is split into training and "
            "validation on its own, by the same rule: a group of rows (a person, or a source photo) is in "
            f"validation when {rule}. `fkp evaluate --split val` selects exactly these rows, per source."
            if len(sources) > 1
            else f"The source is split into training and validation by a rule: a group of rows is in validation "
            f"when {rule}. `fkp evaluate --split val` selects exactly these rows."
        )
    ]
    for source in sources:
        notes = source_notes(source)
        count = counts.get(source["name"])
        unit = notes.get("unit", "rows")
        parts.append(
            f"### `{source['name']}` (`--dataset {source['data']}`)\n\n"
            + notes.get("about", f"`{source['data']}` (see its dataset card).")
            + f"\n\n**Terms:** {notes.get('terms', 'see the source dataset card; its terms apply to this model.')}"
            + f"\n\n**Labels:** {_labels(source)}"
            + f"\n\n**Split:** {notes.get('split', 'by person where the source names people, else by row')}"
            + (f"; {count:,} validation {unit}." if count else ".")
        )
    return "\n\n".join(parts + [_convention(sources)])


def _history_table(history: list[dict], names: list[str], exported: int | None) -> str:
    """Validation RMSE / NME per source at the first, the exported, each source's lowest-NME and the last epoch."""
    epochs = [h["epoch"] for h in history]
    labels: dict[int, list[str]] = {0: ["first"]}
    if exported in epochs:
        labels.setdefault(epochs.index(exported), []).append("exported")
    labels.setdefault(len(history) - 1, []).append("last")
    columns = [(", ".join(names), i) for i, names in sorted(labels.items())]

    def cell(record: dict, suffix: str) -> str:
        rmse, nme = record.get(f"val_rmse{suffix}"), record.get(f"val_nme{suffix}")
        return f"{rmse:.3f} / {nme:.4f}" if rmse is not None and nme is not None else "-"

    lines = [
        "| validation split | "
        + " | ".join(f"epoch {epochs[i]} ({label})" for label, i in columns)
        + " | lowest NME (epoch) |",
        "|---|" + "---|" * (len(columns) + 1),
    ]
    for label, suffix in [("all sources", "")] + [(f"`{name}`", f"/{name}") for name in names]:
        nmes = [h.get(f"val_nme{suffix}", math.inf) for h in history]
        best = int(np.argmin(nmes))
        lines.append(
            f"| {label} | "
            + " | ".join(cell(history[i], suffix) for _, i in columns)
            + (f" | {nmes[best]:.4f} ({epochs[best]}) |" if math.isfinite(nmes[best]) else " | - |")
        )
    return "\n".join(lines) + "\n\nEach cell: RMSE (96x96 frame px) / NME, as train.py recorded them."


def _evaluated_sources(evaluation: dict, sources: list[dict]) -> list[dict]:
    """The per-source entries of an evaluation: {"sources": [...]} as `fkp export` builds it, or the older
    single {"command", "metrics", "flip_metrics"}."""
    if "sources" in evaluation:
        return evaluation["sources"]
    return [{"name": sources[0]["name"] if sources else "data", **evaluation}]


def _validation(evaluation: dict | None, metrics: dict, sources: list[dict]) -> tuple[str, list[str]]:
    """The validation section's text and its per-keypoint subsection."""
    scale = (
        "RMSE is Kaggle's metric in pixels of the 96x96 frame; NME is the point error divided by the distance "
        "between the outer eye corners."
    )
    if evaluation:
        entries = _evaluated_sources(evaluation, sources)
        photo = [e for e in entries if e.get("photo")]
        parts = []
        if photo:
            lines = [
                "| source | photos | faces missed by the detector | NME | RMSE (photo px) |",
                "|---|---|---|---|---|",
            ]
            for e in photo:
                m = e["photo"]["metrics"]
                lines.append(
                    f"| `{e['name']}` | {m['n_photos']} | {m['n_missed']} ({m['missed_share']:.1%}) | "
                    f"{m['nme']:.4f} | {m['rmse']:.2f} |"
                )
            parts.append(
                "### Whole photos\n\nWhat a user of the landmarker gets: `FaceKeypoints.detect` (the default face "
                "detector, an upright crop, this model) on each source's validation photos, scored against the labels "
                "in photo pixels. NME (error / outer-eye-corner distance) compares sources of any photo size; a face "
                "the detector misses is counted as missed, not in the NME. From:\n\n"
                + _commands([e["photo"]["command"] for e in photo])
                + "\n\n"
                + "\n".join(lines)
            )
        if len(entries) == 1:
            entry = entries[0]
            n_images = entry["metrics"].get("n_images")
            rows = [("this model", entry["metrics"])]
            if entry.get("flip_metrics"):
                rows.append(("with flip test-time augmentation", entry["flip_metrics"]))
            frames = (
                f"From `{entry['command']}` (add `--flip-test` for the second row). {scale}"
                + (f" {n_images} validation frames." if n_images else "")
                + f"\n\n{_metrics_table(rows)}"
            )
            keypoints = f"### Per keypoint\n\n{_per_keypoint_table(entry['metrics'])}"
        else:
            lines = [
                "| source | frames | RMSE (px) | NME | RMSE, flip test | NME, flip test |",
                "|---|---|---|---|---|---|",
            ]
            for e in entries:
                m, f = e["metrics"], e.get("flip_metrics")
                flip = f"{f['rmse']:.3f} | {f['nme']:.4f}" if f else "- | -"
                lines.append(f"| `{e['name']}` | {m.get('n_images', '')} | {m['rmse']:.3f} | {m['nme']:.4f} | {flip} |")
            frames = (
                f"Each source's validation split, from the commands below (add `--flip-test` for the flip-test "
                f"columns). {scale}\n\n" + _commands([e["command"] for e in entries]) + "\n\n" + "\n".join(lines)
            )
            keypoints = "### Per keypoint\n\n" + _per_keypoint_by_source([(e["name"], e["metrics"]) for e in entries])
        if photo:
            frames = "### 96x96 frames\n\n" + frames
        return "## Validation accuracy\n\n" + "\n\n".join(parts + [frames]), [keypoints]
    if not metrics:
        return "## Validation accuracy\n\nNo metrics recorded.", []
    recorded = "Recorded by train.py on its validation split at the exported epoch."
    per_keypoint = [f"### Per keypoint\n\n{_per_keypoint_table(metrics)}"] if "per_keypoint" in metrics else []
    n_images = metrics.get("n_images")
    if not metrics.get("sources"):
        return (
            f"## Validation accuracy\n\n{recorded} {scale}"
            + (f" {n_images} validation frames." if n_images else "")
            + f"\n\n{_metrics_table([('this model', metrics)])}",
            per_keypoint,
        )
    lines = ["| source | frames | RMSE (px) | NME |", "|---|---|---|---|"]
    for name, m in metrics["sources"].items():
        lines.append(f"| `{name}` | {m.get('count', '')} | {m['rmse']:.3f} | {m['nme']:.4f} |")
    lines.append(f"| all sources, pooled | {n_images or ''} | {metrics['rmse']:.3f} | {metrics['nme']:.4f} |")
    if per_keypoint:
        per_keypoint[0] = per_keypoint[0].replace("### Per keypoint", "### Per keypoint (all sources, pooled)")
    return (
        f"## Validation accuracy\n\nRecorded by train.py on each source's validation split at the exported epoch; "
        f"the exported epoch is the one with the lowest RMSE over all of them, pooled. {scale} `fkp export "
        "FOLDER --data` evaluates each source again (and `--pipeline photo` the whole-photo pipeline).\n\n"
        + "\n".join(lines),
        per_keypoint,
    )


def _limitations_and_licence(sources: list[dict]) -> tuple[str, str, dict]:
    """The first limitation (what the model was trained on), the licence section and the card's licence
    metadata: research data, whose terms a model inherits, makes the weights' licence "other"."""
    notes = [source_notes(s) for s in sources]
    unmeasured = "accuracy on other populations and conditions is not measured here."
    if len(sources) == 1 and sources[0]["name"] == "ytf68" and not _convention(sources):
        return (
            f"Trained on {notes[0]['summary']}; {unmeasured}",
            "MIT (the fkp code and these weights). The training frames come from YouTube Faces via a public course "
            "dataset; check its terms before redistributing data derived from it.",
            {"license": "mit"},
        )
    summaries = [n.get("summary", f"`{s['name']}`") for s, n in zip(sources, notes)]
    if len(sources) == 1:
        trained_on = f"Trained on {summaries[0]}; {unmeasured}"
    else:
        trained_on = f"Trained only on these sources; {unmeasured}" + "".join(
            f"\n  - `{s['name']}`: {summary}" for s, summary in zip(sources, summaries)
        )
    research = [(s, n) for s, n in zip(sources, notes) if n.get("research")]
    if not research:
        return (
            trained_on,
            "MIT (the fkp code and these weights). The training data: "
            + "; ".join(f"`{s['name']}`: {n.get('terms', 'see its dataset card')}" for s, n in zip(sources, notes))
            + " Check its terms before redistributing data derived from it.",
            {"license": "mit"},
        )
    names = " and ".join(f"`{s['name']}`" for s, _ in research)
    licence = (
        f"The fkp code is MIT. **These weights are not**: they were trained on {names}, research data, and a "
        "model trained on research data inherits its terms:\n\n"
        + "\n".join(f"- `{s['name']}`: {n['terms']}" for s, n in research)
        + "\n\nUse these weights for research; check each source's terms before any other use, and before "
        "redistributing them or data derived from the sources."
    )
    return trained_on, licence, {"license": "other", "license_name": "research-data-terms"}


def _averaged(record: dict, evaluated: bool) -> str:
    """The "Weight average" section of a model made by `fkp average` (its average.json), else ""."""
    models = record.get("models") or []
    if not models:
        return ""
    rows = "\n".join(
        f"| `{m['model']}` | {m['weight']:.3g} | `{m['sha256'][:12]}` | "
        + (f"`{m['training_command']}`" if m.get("training_command") else "(not recorded)")
        + " |"
        for m in models
    )
    figures = (
        "the figures under Validation were measured on the average itself."
        if evaluated
        else "the figures under Validation are that run's, not the average's (`fkp export FOLDER --data` "
        "measures the average's own)."
    )
    return (
        "## Weight average\n\nThese weights are the weighted mean of these models' weights, entry by entry "
        "(`fkp average`; a model soup, or WiSE-FT where one model is the other's fine-tuning). The data, "
        "Training (the exported epoch too), the history and the learning curve in this card are the first "
        "model's run; the other models' data and recipes are in their training commands below. "
        f"{figures}\n\n"
        f"| model | weight | SHA-256 of its weights | trained with |\n|---|---|---|---|\n{rows}"
    )


def write_model_card(folder: str | Path, evaluation: dict | None = None, notes: str = "", intro: str = "") -> Path:
    """Write README.md (a Hugging Face model card) and learning_curve.png into a model folder.

    ``evaluation``: optional figures from `fkp.evaluate`, {"sources": [{"name", "command", "metrics",
    "flip_metrics", "photo": {"command", "metrics"} or absent}, ...]} as `fkp.export` builds them (or one
    source's {"command", "metrics", "flip_metrics"}); without it, the card reports the validation
    metrics training recorded. ``notes``: extra Markdown (e.g. measured speed) placed before the limitations;
    ``intro``: Markdown placed right under the title (e.g. which of several models this is).
    """
    from huggingface_hub import ModelCard, ModelCardData

    folder = Path(folder)
    config, args = read_record(folder, "config.json"), read_record(folder, "training_args.json")
    metrics, summary = read_record(folder, "metrics.json"), read_record(folder, "train_summary.json")
    history = summary.get("history", [])
    if history:
        learning_curve(history, folder / "learning_curve.png", average=summary.get("average"))
    sources = run_sources(args)
    names = history_sources(history)
    counts = {name: m.get("count") for name, m in metrics.get("sources", {}).items()}
    epochs_run = summary.get("epochs", metrics.get("epoch"))
    wall = summary.get("wall_seconds")
    best_epoch = metrics.get("epoch")
    validation, per_keypoint = _validation(evaluation, metrics, sources)
    trained_on, licence, licence_data = _limitations_and_licence(sources)

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
    curve = (
        "## Learning curve\n\n"
        + (
            "![validation RMSE and per-source NME per epoch](learning_curve.png)\n\nTop: validation RMSE over all "
            "sources' validation frames, pooled (train.py exports the epoch where it is lowest); bottom: each "
            "source's validation NME.\n\n"
            + _history_table(history, names, None if metrics.get("averaged_epochs") else best_epoch)
            if names
            else "![validation RMSE per epoch](learning_curve.png)"
        )
        if history
        else ""
    )

    sections = [
        "# fkp: 15 facial keypoints with a stacked hourglass",
        "A small heatmap model for the 15 keypoints of Kaggle's *Facial Keypoints Detection* (eye centres and "
        'corners, brow ends, nose tip, mouth corners, top and bottom lip; "left" is the subject\'s left). '
        "It is the model behind the fkp library and its Gradio demo.",
        intro.strip(),
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
        _provenance(sources, args, counts),
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
            + (
                f", at output stride {args['stride']} by `fkp.model.restride` where the saved model's stride "
                "differs, which keeps its weights but not its heatmaps"
                if args.get("stride")
                else ""
            )
            + "); the history and the curve are this run's."
            if args.get("init_from")
            else ""
        )
        + (
            " The student was distilled from "
            + ", ".join(f"`{teacher}`" for teacher in args["teacher"])
            + f" (`--teacher`, {distill_weights(args)}): "
            + (
                "on every augmented training batch, the teachers' mean heatmaps, resampled to the student's "
                "grid, were a second target beside the human labels' (`--teacher_targets heatmaps`, "
                "`fkp.distill`)."
                + (
                    " The teachers ran in "
                    + ", ".join(f"{engine} (`{t}`)" for t, engine in zip(args["teacher"], args["teacher_engines"]))
                    + "."
                    if args.get("teacher_engines")
                    else ""
                )
                if args.get("teacher_targets") == "heatmaps"
                else "the teachers' mean flip-test keypoints on each training frame, moved by its "
                "augmentation, were a second label beside the human one (`fkp.distill`)."
            )
            if args.get("teacher")
            else ""
        ),
        _averaged(read_record(folder, "average.json"), evaluated=evaluation is not None),
        curve,
        validation,
        *per_keypoint,
        notes,
        "## Limitations\n\n"
        f"- {trained_on}\n"
        "- Expects a face framed like Kaggle's 96x96 crops; whole photos go through a face detector and crop "
        "(`FaceKeypoints.detect`), and faces the detector misses get no keypoints.\n"
        "- Full profiles, strong occlusion and faces rotated far from upright are outside the training data.\n"
        "- The confidence is the heatmap peak, not a calibrated probability.\n"
        "- For research and demonstration; not for identifying people or for decisions about them.",
        f"## Licence\n\n{licence}",
    ]
    card = ModelCard.from_template(
        ModelCardData(
            library_name="fkp",
            pipeline_tag="keypoint-detection",
            tags=["facial-keypoints", "keypoint-detection", "stacked-hourglass", "pytorch_model_hub_mixin", "gradio"],
            **licence_data,
        ),
        template_str="---\n{{ card_data }}\n---\n\n" + "\n\n".join(s for s in sections if s) + "\n",
    )
    path = folder / "README.md"
    card.save(path)
    return path
