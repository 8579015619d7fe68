"""fkp's one data schema, and what a valid row of it is. Every source loads into these columns
(`features()`):

    id        string    row / image identifier
    person    string    who is pictured ("" when unknown; used for person-wise splits)
    image     Image     96x96 grayscale (mode "L")
    keypoints Array2D   (15, 2) float32 (x, y) in frame pixels, NaN where missing

A label may lie a little outside its image, by at most `OUTSIDE_MARGIN` of the image's side
(`check_inside` for one row, `check_keypoints` for a loaded dataset); readers yield rows as dicts
with (96, 96) uint8 numpy images, and `from_rows` turns them into a `datasets.Dataset`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from ..errors import DataError
from ..keypoints import FRAME_SIZE, KAGGLE_COLUMNS, NUM_KEYPOINTS
from .tables import BadRows

# A label may lie outside its image by at most this share of the image's longer side. Real labels do
# leave the image a little (a jaw or brow cut off by a crop's edge): the furthest in ../shared/data is
# 9.6% of the photo's side (ytf68; helen_afw68 0.3%, Kaggle's 96x96 frames none), so half the side
# leaves five times that room, while a point beyond it cannot belong to this image (a 96x96 frame
# takes -48..143 px; (500, -300) is refused).
OUTSIDE_MARGIN = 0.5
KAGGLE_FIELDS = tuple(repr(column) for column in KAGGLE_COLUMNS)  # how messages name the label columns


def features():
    """The `datasets.Features` of fkp's schema (see the module docstring)."""
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "person": datasets.Value("string"),
            "image": datasets.Image(),
            "keypoints": datasets.Array2D(shape=(NUM_KEYPOINTS, 2), dtype="float32"),
        }
    )


def allowed_range(width: int, height: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x_min, x_max), (y_min, y_max) a label may take in a width x height image (`OUTSIDE_MARGIN`)."""
    margin = OUTSIDE_MARGIN * max(width, height)
    return (-margin, width - 1 + margin), (-margin, height - 1 + margin)


def check_inside(points: np.ndarray, width: int, height: int, where: str, fields: Sequence[str], image: str) -> None:
    """Raise a DataError naming the first coordinate of ``points`` (K, 2) (NaN = missing) that is not
    finite or lies outside the ``image`` ("frame", "photo") beyond `OUTSIDE_MARGIN`.
    ``fields``: the 2K fields as messages name them (e.g. "'nose_tip_x'"), x and y of each point in turn."""
    (x_lo, x_hi), (y_lo, y_hi) = allowed_range(width, height)
    flat = np.asarray(points, dtype=np.float64).reshape(-1)
    low, high = np.tile([x_lo, y_lo], len(flat) // 2), np.tile([x_hi, y_hi], len(flat) // 2)
    bad = np.flatnonzero(np.isinf(flat) | (flat < low) | (flat > high))
    if len(bad):
        i = bad[0]
        axis = "xy"[i % 2]
        raise DataError(
            f"{where}, field {fields[i]}: {axis} = {flat[i]:g} lies outside the {width}x{height} {image} "
            f"by more than {OUTSIDE_MARGIN:.0%} of its side (allowed {low[i]:g} to {high[i]:g})"
        )


def from_rows(rows: list[dict]):
    """A `datasets.Dataset` in fkp's schema from reader rows with (96, 96) uint8 numpy images."""
    import datasets

    columns = {name: [row[name] for row in rows] for name in ("id", "person", "keypoints")}
    columns["image"] = [Image.fromarray(row["image"]) for row in rows]
    return datasets.Dataset.from_dict(columns, features=features())


def check_schema(dataset, name: str):
    """``dataset`` cast to `features()`; a DataError naming ``name`` when columns are missing."""
    expected = set(features())
    missing = expected - set(dataset.column_names)
    if missing:
        raise DataError(
            f"{name}: not fkp's schema, missing column(s) {sorted(missing)} (have {dataset.column_names}); "
            "convert it with `python -m fkp.data convert`"
        )
    return dataset.cast(features()) if dataset.features != features() else dataset


def check_keypoints(dataset, name: str, on_error: str, skipped: list[str] | None):
    """``dataset`` (fkp's schema) without rows whose keypoints lie outside the 96x96 frame beyond
    `OUTSIDE_MARGIN` (or are infinite): a DataError naming the row and field, or with
    ``on_error="skip"`` the rows are dropped and counted. An empty dataset is a DataError."""
    if len(dataset) == 0:
        raise DataError(f"{name}: no rows")
    keypoints = np.asarray(dataset.with_format("numpy")["keypoints"], dtype=np.float64).reshape(len(dataset), -1)
    (low, high), _ = allowed_range(FRAME_SIZE, FRAME_SIZE)  # a square frame: the same range for x and y
    bad = np.flatnonzero((np.isinf(keypoints) | (keypoints < low) | (keypoints > high)).any(axis=1))
    if not len(bad):
        return dataset
    bad_rows = BadRows(on_error, name, skipped)
    ids = dataset.select(bad)["id"]
    for index, row_id in zip(bad, ids):
        try:
            where = f"{name}: row {index} (id {row_id!r})"
            check_inside(keypoints[index], FRAME_SIZE, FRAME_SIZE, where, KAGGLE_FIELDS, "frame")
        except DataError as error:
            bad_rows.skip(error)
    bad_rows.report()
    if len(bad) == len(dataset):
        raise DataError(f"{name}: no rows left after skipping {len(bad)} bad row(s)")
    return dataset.select(np.setdiff1d(np.arange(len(dataset)), bad))
