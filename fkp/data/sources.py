"""Every data source fkp accepts, loaded into its one schema by `load_source`:

  1. Kaggle's training.csv / training.zip and test.csv (`fkp.data.kaggle`);
  2. a Hub dataset id in fkp's schema (parquet), from the local cache when offline (`load_hub_dataset`);
  3. local parquet file(s) or a `save_to_disk` folder;
  4. a ytf68-layout folder of photos + iBUG-68 landmarks, cropped into Kaggle-like frames (`fkp.data.ytf68`).

Loaded rows are checked against the schema (`fkp.data.schema`), and ``split`` picks a named split of a
Hub / save_to_disk dataset or a side of the person-wise split (`fkp.data.splits`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import DataError
from .conventions import label_correction as label_correction_for
from .kaggle import read_kaggle_csv
from .schema import check_keypoints, check_schema, from_rows
from .splits import SPLIT_SIDES, VAL_FRACTION, split_dataset
from .ytf68 import read_ytf68, ytf68_tables

logger = logging.getLogger(__name__)


def load_source(
    source: str | Path,
    split: str | None = None,
    on_error: str = "raise",
    label_x_shift: float = 0.0,
    val_fraction: float = VAL_FRACTION,
    skipped: list[str] | None = None,
    label_correction: str | None = None,
    crop: str = "labels",
):
    """Load any supported source (see module docstring) as a `datasets.Dataset` in fkp's schema.

    ``split``: None for all rows (the "train" split of a Hub / save_to_disk dataset), a named split
    of such a dataset, or "train" / "val" for the sides of train.py's person-wise split (see
    `_pick_split`). ``label_x_shift``: see `read_ytf68_photos`; ``label_correction``: a name or JSON file
    of `fkp.data.conventions.label_correction` (both for ytf68-layout folders only).

    Bad input raises a DataError naming the file, line (or row) and field: an empty or header-only
    file, a ragged row, a value that is not a number, text that is not UTF-8, missing columns, a
    keypoint outside its image by more than `OUTSIDE_MARGIN` of the image's side. With
    ``on_error="skip"`` bad rows are skipped instead, logged and counted (their messages appended
    to ``skipped`` when given); a source without any good row is still an error.
    """
    correction = label_correction_for(label_correction)
    dataset = _read_source(source, on_error, label_x_shift, skipped, correction, crop)
    return _pick_split(dataset, split, str(source), val_fraction, on_error, skipped)


def source_name(source: str) -> str:
    """A short name for a data source in logs and cards: its folder or file name, or the Hub id."""
    path = Path(source)
    return path.stem if path.suffix else path.name or str(source)


def load_hub_dataset(repo_id: str, revision: str | None = None):
    """A Hub dataset (a DatasetDict of parquet splits): from the local cache first, then the network with short
    timeouts; raises a DataError saying what to do when neither works."""
    import datasets
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    patterns = ["*.parquet", "**/*.parquet"]
    try:
        folder = snapshot_download(
            repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns, local_files_only=True
        )
    except HFValidationError as error:
        raise DataError(f"{repo_id!r} is neither an existing local path nor a valid Hub dataset id: {error}") from None
    except Exception:
        if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
            raise DataError(
                f"Hub dataset {repo_id!r} is not in the local cache and HF_HUB_OFFLINE is set; "
                "download it once with network access or pass a local path"
            ) from None
        try:  # a short metadata timeout: an unreachable Hub fails in seconds instead of hanging
            folder = snapshot_download(
                repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns, etag_timeout=10
            )
        except Exception as error:
            raise DataError(
                f"Hub dataset {repo_id!r} is not in the local cache and could not be downloaded "
                f"({type(error).__name__}: {error}); check the id and your network, "
                "or pass a local path"
            ) from None
    files = sorted(str(p) for p in Path(folder).rglob("*.parquet"))
    if not files:
        raise DataError(f"Hub dataset {repo_id!r} has no parquet files (fkp expects its schema as parquet)")
    by_split: dict[str, list[str]] = {}
    for file in files:
        stem = Path(file).name
        key = next((s for s in ("train", "validation", "test") if stem.startswith(s) or f"/{s}" in file), "train")
        by_split.setdefault(key, []).append(file)
    return datasets.load_dataset("parquet", data_files=by_split)


def _load_arrow(path: Path, load: Callable[[], object]):
    """``load()`` (a parquet or save_to_disk read), its failures turned into a DataError naming ``path``."""
    import datasets.exceptions
    import pyarrow

    try:
        return load()
    except (OSError, ValueError, pyarrow.ArrowException, datasets.exceptions.DatasetsError) as error:
        raise DataError(
            f"{path}: cannot read it as parquet / a saved dataset ({type(error).__name__}: {error})"
        ) from None


def _rows_of(path: Path, rows: Iterable[dict]):
    """A Dataset of reader rows; a DataError when every row was skipped."""
    rows = list(rows)
    if not rows:
        raise DataError(f"{path}: no rows left after skipping bad rows")
    return from_rows(rows)


def _read_source(
    source: str | Path,
    on_error: str,
    label_x_shift: float,
    skipped: list[str] | None = None,
    correction=None,
    crop: str = "labels",
):
    """A source as a Dataset or DatasetDict (schema not yet checked)."""
    import datasets

    path = Path(source)
    if not path.exists() and (str(source).startswith((".", "/", "~")) or path.suffix):
        raise DataError(f"{source}: no such file or folder")
    if correction is not None and not is_ytf68(source):
        raise DataError(f"{source}: a label correction applies to ytf68-layout folders only")
    if crop != "labels" and not is_ytf68(source):
        raise DataError(f"{source}: --crop {crop} applies to ytf68-layout folders only (the others are frames already)")
    if label_x_shift and not is_ytf68(source):
        # one shift given for several sources (or a run's recorded one) reaches every source: not an error
        logger.warning(
            "%s: the label x shift (%g px) applies to ytf68-layout folders only; not applied", source, label_x_shift
        )
    if not path.exists():
        return load_hub_dataset(str(source))
    if path.is_dir():
        if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            return _load_arrow(path, lambda: datasets.load_from_disk(str(path)))
        if ytf68_tables(path):
            return _rows_of(path, read_ytf68(path, on_error, label_x_shift, skipped, correction, crop))
        parquet = sorted(str(p) for p in path.rglob("*.parquet"))
        if parquet:
            return _load_arrow(path, lambda: datasets.load_dataset("parquet", data_files=parquet, split="train"))
        raise DataError(f"{path}: not a save_to_disk folder, a ytf68-layout folder or a folder of parquet files")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _load_arrow(path, lambda: datasets.load_dataset("parquet", data_files=str(path), split="train"))
    if suffix in (".csv", ".zip"):
        if path.name.endswith("_frames_keypoints.csv"):
            return _rows_of(path, read_ytf68(path, on_error, label_x_shift, skipped, correction, crop))
        return _rows_of(path, read_kaggle_csv(path, on_error, skipped))
    raise DataError(f"{path}: unsupported file type {suffix!r} (expected .csv, .zip, .parquet or a folder)")


def is_ytf68(source: str | Path) -> bool:
    """Whether a source is a ytf68-layout folder (or one of its NAME_frames_keypoints.csv tables)."""
    path = Path(source)
    return (path.is_dir() and bool(ytf68_tables(path))) or path.name.endswith("_frames_keypoints.csv")


def _pick_split(
    dataset,
    split: str | None,
    name: str,
    val_fraction: float,
    on_error: str = "raise",
    skipped: list[str] | None = None,
):
    """One split of a loaded source, in fkp's schema, checked by `check_keypoints`.

    A named split of a DatasetDict (Hub, save_to_disk) is taken as it is. "train" / "val" on a
    source without that named split are the sides of `split_dataset(dataset, val_fraction)`, i.e.
    exactly the rows train.py trains and validates on (with the same --val_fraction).
    """
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        if split in dataset:
            return check_keypoints(check_schema(dataset[split], name), name, on_error, skipped)
        if split == "val" and "validation" in dataset:
            return check_keypoints(check_schema(dataset["validation"], name), name, on_error, skipped)
        if split is not None and split not in SPLIT_SIDES:
            raise DataError(
                f"{name}: no split {split!r}; available: {list(dataset)}, or 'train' / 'val' of the person-wise split"
            )
        dataset = dataset["train"] if "train" in dataset else dataset[next(iter(dataset))]
    elif split is not None and split not in SPLIT_SIDES:
        raise DataError(
            f"{name}: has no named split {split!r}; use 'train' or 'val' for the sides of the person-wise split"
        )
    dataset = check_keypoints(check_schema(dataset, name), name, on_error, skipped)
    return dataset if split is None else split_dataset(dataset, val_fraction)[SPLIT_SIDES[split]]
