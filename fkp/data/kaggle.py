"""Kaggle's Facial Keypoints Detection files: training.csv / training.zip (30 label columns + Image, a
96x96 frame as 9,216 space-separated pixel values) and test.csv (ImageId + Image), read as rows of
fkp's schema (`read_kaggle_csv`), and a label table alone as an (N, 15, 2) array (`read_kaggle_labels`,
for `fkp calibrate framing`). Blank label fields are missing points (NaN).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..keypoints import FRAME_SIZE, KAGGLE_COLUMNS, NUM_KEYPOINTS
from .schema import KAGGLE_FIELDS, check_inside
from .tables import BadRows, is_number, numbers, open_csv, ragged, read_table

PIXELS = FRAME_SIZE * FRAME_SIZE


def _parse_image(text: str, where: str) -> np.ndarray:
    """A (96, 96) uint8 frame from Kaggle's space-separated pixel values."""
    values = text.split()
    if len(values) != PIXELS:
        raise DataError(f"{where}, field 'Image': {len(values)} pixel values, expected {PIXELS} (96x96)")
    try:
        pixels = np.array(values, dtype=np.float32)
    except ValueError:
        bad = next(v for v in values if not is_number(v))
        raise DataError(f"{where}, field 'Image': pixel value {bad!r} is not a number") from None
    if pixels.min() < 0 or pixels.max() > 255 or not np.isfinite(pixels).all():
        raise DataError(f"{where}, field 'Image': pixel values must lie in 0..255")
    return pixels.reshape(FRAME_SIZE, FRAME_SIZE).astype(np.uint8)


def read_kaggle_csv(path: str | Path, on_error: str = "raise", skipped: list[str] | None = None) -> Iterator[dict]:
    """Rows of Kaggle's training.csv / training.zip (labels + Image) or test.csv (ImageId + Image).

    Blank label fields are missing points (NaN). A bad row (wrong field count, a value that is not a
    number, a keypoint outside the frame beyond `OUTSIDE_MARGIN`) raises a DataError naming the file,
    CSV line and field; with ``on_error="skip"`` it is logged and skipped, counted, and its message
    appended to ``skipped`` when given. An empty or header-only file, text that is not UTF-8 and
    missing columns are errors whatever ``on_error``.
    """
    with open_csv(path) as (name, header, rows):
        is_test = "ImageId" in header
        required = ["ImageId", "Image"] if is_test else [*KAGGLE_COLUMNS, "Image"]
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(
                f"{name}: missing column(s) {', '.join(missing)}; Kaggle's layout is the 30 keypoint "
                "columns + Image (or ImageId + Image for test.csv)"
            )
        position = {column: i for i, column in enumerate(header)}
        label_positions = [] if is_test else [position[column] for column in KAGGLE_COLUMNS]
        bad_rows = BadRows(on_error, name, skipped)
        for index, (line, row) in enumerate(rows):
            where = f"{name}: line {line} (row {index})"
            try:
                error = ragged(row, header, where)
                if error:
                    raise error
                image = _parse_image(row[position["Image"]], where)
                keypoints = np.full((NUM_KEYPOINTS, 2), np.nan, dtype=np.float32)
                if not is_test:
                    for column_index, (column, at) in enumerate(zip(KAGGLE_COLUMNS, label_positions)):
                        text = row[at].strip()
                        if text == "":
                            continue
                        if not is_number(text):
                            raise DataError(f"{where}, field {column!r}: {text!r} is not a number")
                        keypoints[column_index // 2, column_index % 2] = float(text)
                    check_inside(keypoints, FRAME_SIZE, FRAME_SIZE, where, KAGGLE_FIELDS, "frame")
            except DataError as error:
                bad_rows.skip(error)
                continue
            row_id = row[position["ImageId"]] if is_test else str(index)
            yield {"id": str(row_id), "person": "", "image": image, "keypoints": keypoints}
        bad_rows.report()


def read_kaggle_labels(path: str | Path) -> np.ndarray:
    """(N, 15, 2) keypoints of a Kaggle label table (training_keypoints.csv or training.csv)."""
    table = read_table(path, KAGGLE_COLUMNS)
    return numbers(table[list(KAGGLE_COLUMNS)], str(path)).astype(np.float32).reshape(-1, NUM_KEYPOINTS, 2)
