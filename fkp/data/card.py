"""The dataset card (README.md on the Hub) that `fkp convert --push-to-hub` writes for a dataset in fkp's
schema: its size, people, provenance, schema, and how to train and evaluate on it. `KNOWN_SOURCES`
says what is known about data sources by name; the model card (`fkp.card`) quotes it for a model's
training data.
"""

from __future__ import annotations

import numpy as np

from ..keypoints import KEYPOINT_NAMES
from .splits import VAL_FRACTION

_KAGGLE_TRAINING = (
    "Kaggle's Facial Keypoints Detection `training.csv` (96x96 grayscale crops, 15 keypoints, partly missing)."
)
# What is known about data sources by name, for the provenance section.
KNOWN_SOURCES = {
    "ytf68": (
        "`ytf68`: colour video frames of 282 people from YouTube Faces with 68 iBUG landmarks, as published "
        "for a public facial-keypoints course (a training table of 2,820 frames and a test table of 626 more "
        "frames of the same people; both are used, split by person). Kaggle's images were not available, so "
        "this model was **not trained on Kaggle data**. The 68 landmarks are mapped onto Kaggle's 15 keypoints "
        "(`fkp.keypoints.IBUG68_TO_KAGGLE`) and each face is cropped into a Kaggle-like 96x96 grayscale frame "
        "around its 51 inner landmarks, with an offset and scale fitted to Kaggle's label statistics "
        "(`fkp calibrate framing`)."
    ),
    "training.zip": _KAGGLE_TRAINING,
    "training.csv": _KAGGLE_TRAINING,
}


def dataset_card(dataset, source: str, command: str, label_x_shift: float = 0.0):
    """A Hugging Face `DatasetCard` for a dataset in fkp's schema, as `fkp convert --push-to-hub` writes it.
    ``command``: the command line that made it; ``label_x_shift``: the --label-x-shift it was read with."""
    from huggingface_hub import DatasetCard, DatasetCardData

    persons = sorted({p for p in dataset["person"] if p})
    present = np.isfinite(np.asarray(dataset.with_format("numpy")["keypoints"], dtype=np.float32)).all(-1)
    provenance = next((text for key, text in KNOWN_SOURCES.items() if key in source), f"Converted from `{source}`.")
    size = "n<1K" if len(dataset) < 1000 else "1K<n<10K" if len(dataset) < 10000 else "10K<n<100K"
    shift = (
        (
            f" Every x label was moved by {label_x_shift:+.2f} photo pixels when the data was read "
            "(`--label-x-shift`): independent landmarkers agree that these labels sit that far off in x "
            "(`python benchmarks/label_offset.py`)."
        )
        if label_x_shift
        else ""
    )
    people = f" of {len(persons):,} people" if persons else ""
    keypoints_row = (
        "| `keypoints` | Array2D (15, 2) float32 | (x, y) in frame pixels, x right, y down, "
        "centre of the top-left pixel at (0, 0); NaN where missing |"
    )
    train_line = (
        "accelerate launch train.py --dataset THIS_REPO_ID --output_dir runs/fkp     "
        f"# fkp holds out {VAL_FRACTION:.0%} of the people for validation"
    )
    use_note = (
        "or `datasets.load_dataset(THIS_REPO_ID)`. Split by person, never by frame: frames of one person "
        "are near duplicates."
    )
    body = f"""# Facial keypoints in fkp's schema

{len(dataset):,} face frames{people}, each a 96x96 grayscale crop with Kaggle's 15
facial keypoints, made by fkp's `convert` command for training and evaluating keypoint models.

## Source and provenance

{provenance}{shift}

Made with:

```bash
{command}
```

## Schema

| column | type | meaning |
|---|---|---|
| `id` | string | row identifier (`TABLE/FILE` for photo folders) |
| `person` | string | who is pictured ("" when unknown); splits must keep a person on one side |
| `image` | Image | 96x96 grayscale (mode "L") |
{keypoints_row}

Keypoints, in order: {", ".join(f"`{n}`" for n in KEYPOINT_NAMES)} ("left" is the subject's left).
{int(present.sum()):,} of {present.size:,} points are present.

## Use

```bash
{train_line}
fkp evaluate --data THIS_REPO_ID --split val                                  # exactly those people
```

{use_note}

## Licence

The frames are derived from their source; its terms apply (see above). fkp's conversion code is MIT.
"""
    data = DatasetCardData(
        license="other",
        task_categories=["keypoint-detection"],
        tags=["facial-keypoints", "fkp", "faces"],
        size_categories=[size],
        pretty_name="Facial keypoints (fkp schema)",
    )
    return DatasetCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + body)
