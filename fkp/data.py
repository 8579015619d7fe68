"""Data sources for fkp, all loaded into one Hugging Face `datasets` schema (`features()`):

    id        string    row / image identifier
    person    string    who is pictured ("" when unknown; used for person-wise splits)
    image     Image     96x96 grayscale (mode "L")
    keypoints Array2D   (15, 2) float32 (x, y) in frame pixels, NaN where missing

Sources (`load_source`):
  1. Kaggle's training.csv / training.zip (30 label columns + Image) and test.csv (ImageId, Image);
  2. a Hub dataset id in that schema (parquet), from the local cache when offline;
  3. local parquet file(s) or a `save_to_disk` folder;
  4. a folder of photos + iBUG-68 landmarks (the ytf68 layout: NAME_frames_keypoints.csv + NAME/),
     converted to Kaggle-like 96x96 frames (`ytf68_frame`).

CLI: ``python -m fkp.data convert SOURCE OUT.parquet [--push-to-hub REPO_ID]`` and
``python -m fkp.data calibrate --kaggle training_keypoints.csv --ytf68 FOLDER``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import logging
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from .errors import DataError  # noqa: F401 (re-exported: fkp.data.DataError)
from .keypoints import FRAME_SIZE, KAGGLE_COLUMNS, KEYPOINT_NAMES, NUM_KEYPOINTS
from .transforms import apply_affine, crop_matrix, rotate, warp

logger = logging.getLogger(__name__)

PIXELS = FRAME_SIZE * FRAME_SIZE


def features():
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "person": datasets.Value("string"),
            "image": datasets.Image(),
            "keypoints": datasets.Array2D(shape=(NUM_KEYPOINTS, 2), dtype="float32"),
        }
    )


SKIP_BAD_ROWS_HELP = ("skip (and count) bad rows instead of stopping at the first: a ragged row, a value that is not a "
                      "number, an unreadable photo, a keypoint outside its image by more than half the image's side")
LABEL_X_SHIFT_HELP = ("photo pixels added to every x label of a ytf68-layout folder (default 0: no correction); "
                      "the ytf68 data in ../shared needs -1.3 (benchmarks/label_offset.py)")


# ---------------------------------------------------------------------------------------------
# iBUG-68 -> Kaggle 15 and the Kaggle-like framing

# Each Kaggle keypoint as the mean of these iBUG-68 points (0-based; iBUG "right" = subject's right).
IBUG68_TO_KAGGLE: dict[str, tuple[int, ...]] = {
    "left_eye_center": (42, 43, 44, 45, 46, 47),
    "right_eye_center": (36, 37, 38, 39, 40, 41),
    "left_eye_inner_corner": (42,),
    "left_eye_outer_corner": (45,),
    "right_eye_inner_corner": (39,),
    "right_eye_outer_corner": (36,),
    "left_eyebrow_inner_end": (22,),
    "left_eyebrow_outer_end": (26,),
    "right_eyebrow_inner_end": (21,),
    "right_eyebrow_outer_end": (17,),
    "nose_tip": (30,),
    "mouth_left_corner": (54,),
    "mouth_right_corner": (48,),
    # Kaggle's lip points sit between iBUG's outer and inner lip contours (see `calibrate`).
    "mouth_center_top_lip": (51, 62),
    "mouth_center_bottom_lip": (57, 66),
}


def ibug68_to_kaggle(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) iBUG landmarks -> (..., 15, 2) Kaggle keypoints."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    return np.stack([landmarks[..., list(IBUG68_TO_KAGGLE[n]), :].mean(axis=-2) for n in KEYPOINT_NAMES], axis=-2)


@dataclass(frozen=True)
class Framing:
    """Square crop relative to a reference box (centre cx, cy; side = max(w, h)):
    crop centre = box centre + offset * side, crop side = scale * side."""

    offset_x: float
    offset_y: float
    scale: float

    def crop(self, box_center: np.ndarray, box_side: float, angle_deg: float = 0.0) -> tuple[np.ndarray, float]:
        """Crop centre (2,) and side in photo pixels. The offset is in the upright face's axes: for a
        crop rotated by ``angle_deg`` (`fkp.transforms.crop_matrix`'s angle) it turns with the face."""
        offset = rotate(np.array([self.offset_x, self.offset_y]), -angle_deg) * box_side
        return np.asarray(box_center, dtype=np.float64) + offset, self.scale * box_side


# Crop relative to the bounding box of the 51 inner landmarks (brows, eyes, nose, mouth; the jaw
# contour swings with head yaw and tripled the horizontal spread), fitted by `calibrate` so that the
# mean positions of the 15 points match Kaggle's training labels (least squares, offset and scale).
LANDMARK_FRAMING = Framing(offset_x=0.0013, offset_y=-0.0922, scale=1.4800)


def landmark_box(landmarks68: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (2,) and side (max of width, height) of the box around the inner landmarks 17..67."""
    inner = np.asarray(landmarks68)[17:]
    lo, hi = np.nanmin(inner, axis=0), np.nanmax(inner, axis=0)
    return (lo + hi) / 2, float(np.max(hi - lo))


def landmark_crop(landmarks68: np.ndarray, framing: Framing = LANDMARK_FRAMING) -> tuple[np.ndarray, float]:
    """Centre (2,) and side of the square Kaggle-like crop that a face's (68, 2) landmarks imply."""
    return framing.crop(*landmark_box(landmarks68))


def ytf68_frame(photo: np.ndarray, landmarks68: np.ndarray, framing: Framing = LANDMARK_FRAMING):
    """Crop a photo into a Kaggle-like frame.

    Args:
        photo: (H, W) uint8 grayscale photo.
        landmarks68: (68, 2) iBUG landmarks in photo pixels.

    Returns:
        the (96, 96) uint8 frame, its (15, 2) keypoints in frame pixels and the 2x3 photo->frame matrix.
    """
    matrix = crop_matrix(*landmark_crop(landmarks68, framing))
    frame = warp(photo, matrix)
    return frame, apply_affine(matrix, ibug68_to_kaggle(landmarks68)).astype(np.float32), matrix


def fit_framing(landmarks68: np.ndarray, target_means: np.ndarray, boxes: tuple[np.ndarray, np.ndarray] | None = None) -> Framing:
    """Least-squares Framing so that mapped mean keypoints match ``target_means`` (15, 2).

    ``landmarks68``: (N, 68, 2) in photo pixels. ``boxes``: optional (centres (N, 2), sides (N,)) of
    another reference box (e.g. a face detector's) in place of the landmark bounding box.
    """
    if boxes is None:
        pairs = [landmark_box(l) for l in landmarks68]
        boxes = (np.stack([c for c, _ in pairs]), np.array([s for _, s in pairs]))
    centres, sides = boxes
    points = ibug68_to_kaggle(landmarks68)
    normalised = ((points - centres[:, None]) / sides[:, None, None]).mean(axis=0)  # (15, 2)
    # frame = half + a * (u - offset)  <=>  frame - half = a * u + t  with t = -a * offset
    half = (FRAME_SIZE - 1) / 2
    rows, rhs = [], []
    for (ux, uy), (mx, my) in zip(normalised, target_means - half):
        rows += [[ux, 1, 0], [uy, 0, 1]]
        rhs += [mx, my]
    (a, tx, ty), *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return Framing(offset_x=float(-tx / a), offset_y=float(-ty / a), scale=float(FRAME_SIZE / a))


# ---------------------------------------------------------------------------------------------
# Readers. Each yields rows of the common schema as dicts with numpy images.


# A label may lie outside its image by at most this share of the image's longer side. Real labels do
# leave the image a little (a jaw or brow cut off by a crop's edge): the furthest in ../shared/data is
# 9.6% of the photo's side (ytf68; helen_afw68 0.3%, Kaggle's 96x96 frames none), so half the side
# leaves five times that room, while a point beyond it cannot belong to this image (a 96x96 frame
# takes -48..143 px; (500, -300) is refused).
OUTSIDE_MARGIN = 0.5
KAGGLE_FIELDS = tuple(repr(column) for column in KAGGLE_COLUMNS)  # how messages name the label columns


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
        raise DataError(f"{where}, field {fields[i]}: {axis} = {flat[i]:g} lies outside the {width}x{height} {image} "
                        f"by more than {OUTSIDE_MARGIN:.0%} of its side (allowed {low[i]:g} to {high[i]:g})")


def _decoded_lines(handle: Iterable[bytes], name: str) -> Iterator[str]:
    """The lines of a binary file as text; a line that is not UTF-8 is a DataError naming it."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{name}: line {number}: not UTF-8 text (byte 0x{raw[error.start]:02x} at column "
                            f"{error.start + 1}); is it a CSV file? Save it as UTF-8 CSV") from None


def _csv_rows(handle: Iterable[bytes], name: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank CSV row; malformed CSV is a DataError naming the line."""
    reader = csv.reader(_decoded_lines(handle, name))
    try:
        for row in reader:
            if row:
                yield reader.line_num, row
    except csv.Error as error:
        raise DataError(f"{name}: line {reader.line_num + 1}: not valid CSV ({error})") from None


@contextlib.contextmanager
def open_csv(path: str | Path) -> Iterator[tuple[str, list[str], Iterator[tuple[int, list[str]]]]]:
    """Open a CSV file (or the only CSV inside a .zip) as (display name, header, data rows as
    (line number, fields)). An empty file, a file with only a header, a file that is not UTF-8 text
    or not CSV, and an unreadable zip raise a DataError naming the file."""
    path = Path(path)
    with contextlib.ExitStack() as stack:
        name = str(path)
        try:
            if path.suffix.lower() == ".zip":
                archive = stack.enter_context(zipfile.ZipFile(path))
                members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
                if len(members) != 1:
                    raise DataError(f"{path}: expected exactly one .csv inside the zip, found {members or 'none'}")
                name = f"{path}!{members[0]}"
                handle = stack.enter_context(archive.open(members[0]))
            else:
                handle = stack.enter_context(open(path, "rb"))
        except zipfile.BadZipFile:
            raise DataError(f"{path}: not a zip archive, or a damaged one") from None
        except OSError as error:
            raise DataError(f"{path}: cannot read it ({error.strerror or error})") from None
        rows = _csv_rows(handle, name)
        header = next(rows, None)
        if header is None:
            raise DataError(f"{name}: the file is empty (expected a header row, then one row per image)")
        first = next(rows, None)
        if first is None:
            raise DataError(f"{name}: no rows: the file has a header but no data")
        yield name, [column.strip() for column in header[1]], _chain_first(first, rows)


Row = tuple[int, list[str]]  # (line number, fields) of a CSV row


def _chain_first(first: Row, rest: Iterator[Row]) -> Iterator[Row]:
    yield first
    yield from rest


def read_table(path: str | Path, columns: Sequence[str] = ()) -> pd.DataFrame:
    """A small CSV table as strings (blank = ""); a DataError names the file and line of an empty or
    header-only file, a ragged row, undecodable text or missing ``columns``."""
    with open_csv(path) as (name, header, rows):
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{name}: missing column(s) {', '.join(missing)} (has {', '.join(header[:8])}"
                            f"{', ...' if len(header) > 8 else ''})")
        records = []
        for line, row in rows:
            if len(row) != len(header):
                raise DataError(f"{name}: line {line}: {len(row)} fields, expected {len(header)} as in the header")
            records.append(row)
    return pd.DataFrame(records, columns=header)


def _parse_image(text: str, where: str) -> np.ndarray:
    values = text.split()
    if len(values) != PIXELS:
        raise DataError(f"{where}, field 'Image': {len(values)} pixel values, expected {PIXELS} (96x96)")
    try:
        pixels = np.array(values, dtype=np.float32)
    except ValueError:
        bad = next(v for v in values if not _is_number(v))
        raise DataError(f"{where}, field 'Image': pixel value {bad!r} is not a number") from None
    if pixels.min() < 0 or pixels.max() > 255 or not np.isfinite(pixels).all():
        raise DataError(f"{where}, field 'Image': pixel values must lie in 0..255")
    return pixels.reshape(FRAME_SIZE, FRAME_SIZE).astype(np.uint8)


class BadRows:
    """What readers do with a bad row: on_error="raise" re-raises its DataError; "skip" logs it,
    counts it and reports the count once the source is read. ``log``, when given, collects the
    skipped rows' messages (callers report the count)."""

    def __init__(self, on_error: str, source: str, log: list[str] | None = None):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.on_error, self.source, self.skipped, self.log = on_error, source, 0, log

    def skip(self, error: DataError) -> None:
        if self.on_error == "raise":
            raise error
        self.skipped += 1
        if self.log is not None:
            self.log.append(str(error))
        logger.warning("skipping %s", error)

    def report(self) -> None:
        if self.skipped:
            logger.warning("%s: skipped %d bad row(s)", self.source, self.skipped)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _ragged(row: list[str], header: list[str], where: str) -> DataError | None:
    """A DataError for a row whose field count differs from the header's, else None."""
    if len(row) == len(header):
        return None
    return DataError(f"{where}: {len(row)} fields, expected {len(header)} as in the header (a missing or extra comma?)")


def read_kaggle_csv(path: str | Path, on_error: str = "raise", skipped: list[str] | None = None):
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
            raise DataError(f"{name}: missing column(s) {', '.join(missing)}; Kaggle's layout is the 30 keypoint "
                            "columns + Image (or ImageId + Image for test.csv)")
        position = {column: i for i, column in enumerate(header)}
        label_positions = [] if is_test else [position[column] for column in KAGGLE_COLUMNS]
        bad_rows = BadRows(on_error, name, skipped)
        for index, (line, row) in enumerate(rows):
            where = f"{name}: line {line} (row {index})"
            try:
                error = _ragged(row, header, where)
                if error:
                    raise error
                image = _parse_image(row[position["Image"]], where)
                keypoints = np.full((NUM_KEYPOINTS, 2), np.nan, dtype=np.float32)
                if not is_test:
                    for column_index, (column, at) in enumerate(zip(KAGGLE_COLUMNS, label_positions)):
                        text = row[at].strip()
                        if text == "":
                            continue
                        if not _is_number(text):
                            raise DataError(f"{where}, field {column!r}: {text!r} is not a number")
                        keypoints[column_index // 2, column_index % 2] = float(text)
                    check_inside(keypoints, FRAME_SIZE, FRAME_SIZE, where, KAGGLE_FIELDS, "frame")
            except DataError as error:
                bad_rows.skip(error)
                continue
            row_id = row[position["ImageId"]] if is_test else str(index)
            yield {"id": str(row_id), "person": "", "image": image, "keypoints": keypoints}
        bad_rows.report()


def ytf68_tables(folder: str | Path) -> list[tuple[Path, Path]]:
    """(CSV, image folder) pairs of a ytf68-layout folder: NAME_frames_keypoints.csv + NAME/."""
    folder = Path(folder)
    if folder.is_file():
        pairs = [(folder, folder.parent / folder.name.replace("_frames_keypoints.csv", ""))]
    else:
        pairs = [(csv, folder / csv.name.replace("_frames_keypoints.csv", "")) for csv in sorted(folder.glob("*_frames_keypoints.csv"))]
    return [(csv, images) for csv, images in pairs if images.is_dir()]


def person_of(file_name: str) -> str:
    """'Valerie_Harper_30.jpg' -> 'Valerie_Harper' (the trailing digits are clip and frame)."""
    return re.sub(r"_\d+$", "", Path(file_name).stem)


def _landmark_fields(header: list[str]) -> list[str]:
    """Names for the 136 coordinate columns of a ytf68 CSV in messages: "'12' (landmark 6 x)"."""
    return [f"{column!r} (landmark {i // 2} {'xy'[i % 2]})" for i, column in enumerate(header[1:])]


def read_ytf68_photos(folder: str | Path, on_error: str = "raise", label_x_shift: float = 0.0,
                      skipped: list[str] | None = None):
    """Yield (id, person, RGB photo (H, W, 3) uint8, (68, 2) landmarks) of a ytf68-layout folder.

    The id is "TABLE/FILE" (e.g. "test/Valerie_Harper_30.jpg"): the layout's tables reuse file
    names for other frames of the same clip, so a file name alone is not unique. A person's frames
    from every table share one ``person``, so person-wise splits keep them on one side.

    ``label_x_shift`` (photo pixels) is added to every landmark's x: a correction for label sets
    with a horizontal bias. The ytf68 data in ../shared needs -1.3 (measured with
    benchmarks/label_offset.py); the default 0.0 leaves labels as they are, because another folder
    in this layout may not share that bias.

    A bad row (wrong field count, a value that is not a number, a photo that cannot be read, a
    landmark outside its photo beyond `OUTSIDE_MARGIN`) raises a DataError naming the CSV, line and
    field; with ``on_error="skip"`` it is skipped and counted (see `read_kaggle_csv`). An empty or
    header-only CSV, undecodable text and a wrong number of columns are errors whatever ``on_error``.
    """
    pairs = ytf68_tables(folder)
    if not pairs:
        raise DataError(f"{folder}: no NAME_frames_keypoints.csv with a NAME/ image folder beside it")
    bad_rows = BadRows(on_error, str(folder), skipped)
    for csv_path, image_dir in pairs:
        with open_csv(csv_path) as (name, header, rows):
            if len(header) != 1 + 68 * 2:
                raise DataError(f"{name}: {len(header)} columns, expected a file name + 136 landmark coordinates")
            fields = _landmark_fields(header)
            for index, (line, row) in enumerate(rows):
                where = f"{name}: line {line} (row {index})"
                try:
                    error = _ragged(row, header, where)
                    if error:
                        raise error
                    file_name = row[0]
                    bad = [(f, v) for f, v in zip(fields, row[1:]) if not _is_number(v)]
                    if bad:
                        raise DataError(f"{where}, field {bad[0][0]}: {bad[0][1]!r} is not a number")
                    landmarks = np.array(row[1:], dtype=np.float64).reshape(68, 2)
                    try:
                        with Image.open(image_dir / file_name) as img:  # opened by content: the .jpg files are PNG
                            photo = np.asarray(img.convert("RGB"))
                    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as error:
                        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
                        raise DataError(f"{where}, field {header[0] or 'file'!r}: cannot read image "
                                        f"{image_dir / file_name}: {reason}") from None
                    height, width = photo.shape[:2]
                    check_inside(landmarks, width, height, where, fields, "photo")
                    landmarks[:, 0] += label_x_shift
                except DataError as error:
                    bad_rows.skip(error)
                    continue
                yield f"{image_dir.name}/{file_name}", person_of(file_name), photo, landmarks
    bad_rows.report()


def read_ytf68(folder: str | Path, on_error: str = "raise", label_x_shift: float = 0.0,
               skipped: list[str] | None = None):
    """Rows of a ytf68-layout folder converted to Kaggle-like 96x96 frames (see `read_ytf68_photos`)."""
    for row_id, person, photo, landmarks in read_ytf68_photos(folder, on_error, label_x_shift, skipped):
        gray = np.asarray(Image.fromarray(photo).convert("L"))
        frame, keypoints, _ = ytf68_frame(gray, landmarks)
        yield {"id": row_id, "person": person, "image": frame, "keypoints": keypoints}


# ---------------------------------------------------------------------------------------------
# load_source


def _from_rows(rows: list[dict]):
    """A Dataset from rows with (96, 96) uint8 numpy images."""
    import datasets

    columns = {name: [row[name] for row in rows] for name in ("id", "person", "keypoints")}
    columns["image"] = [Image.fromarray(row["image"]) for row in rows]
    return datasets.Dataset.from_dict(columns, features=features())


def _check_schema(dataset, name: str):
    expected = set(features())
    missing = expected - set(dataset.column_names)
    if missing:
        raise DataError(f"{name}: not fkp's schema, missing column(s) {sorted(missing)} (have {dataset.column_names}); convert it with `python -m fkp.data convert`")
    return dataset.cast(features()) if dataset.features != features() else dataset


# The sides of train.py's deterministic person-wise split (`split_dataset`), selectable by name.
SPLIT_SIDES = {"train": 0, "val": 1}


def _check_keypoints(dataset, name: str, on_error: str, skipped: list[str] | None):
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


def _pick_split(dataset, split: str | None, name: str, val_fraction: float, on_error: str = "raise",
                skipped: list[str] | None = None):
    """One split of a loaded source, in fkp's schema, checked by `_check_keypoints`.

    A named split of a DatasetDict (Hub, save_to_disk) is taken as it is. "train" / "val" on a
    source without that named split are the sides of `split_dataset(dataset, val_fraction)`, i.e.
    exactly the rows train.py trains and validates on (with the same --val_fraction).
    """
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        if split in dataset:
            return _check_keypoints(_check_schema(dataset[split], name), name, on_error, skipped)
        if split == "val" and "validation" in dataset:
            return _check_keypoints(_check_schema(dataset["validation"], name), name, on_error, skipped)
        if split is not None and split not in SPLIT_SIDES:
            raise DataError(f"{name}: no split {split!r}; available: {list(dataset)}, or 'train' / 'val' of the person-wise split")
        dataset = dataset["train"] if "train" in dataset else dataset[next(iter(dataset))]
    elif split is not None and split not in SPLIT_SIDES:
        raise DataError(f"{name}: has no named split {split!r}; use 'train' or 'val' for the sides of the person-wise split")
    dataset = _check_keypoints(_check_schema(dataset, name), name, on_error, skipped)
    return dataset if split is None else split_dataset(dataset, val_fraction)[SPLIT_SIDES[split]]


def load_hub_dataset(repo_id: str, revision: str | None = None):
    """A Hub dataset (a DatasetDict of parquet splits): from the local cache first, then the network with short
    timeouts; raises a DataError saying what to do when neither works."""
    import datasets
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    patterns = ["*.parquet", "**/*.parquet"]
    try:
        folder = snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns, local_files_only=True)
    except HFValidationError as error:
        raise DataError(f"{repo_id!r} is neither an existing local path nor a valid Hub dataset id: {error}") from None
    except Exception:
        if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
            raise DataError(f"Hub dataset {repo_id!r} is not in the local cache and HF_HUB_OFFLINE is set; download it once with network access or pass a local path") from None
        try:  # a short metadata timeout: an unreachable Hub fails in seconds instead of hanging
            folder = snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns, etag_timeout=10)
        except Exception as error:
            raise DataError(f"Hub dataset {repo_id!r} is not in the local cache and could not be downloaded ({type(error).__name__}: {error}); check the id and your network, or pass a local path") from None
    files = sorted(str(p) for p in Path(folder).rglob("*.parquet"))
    if not files:
        raise DataError(f"Hub dataset {repo_id!r} has no parquet files (fkp expects its schema as parquet)")
    by_split: dict[str, list[str]] = {}
    for file in files:
        stem = Path(file).name
        key = next((s for s in ("train", "validation", "test") if stem.startswith(s) or f"/{s}" in file), "train")
        by_split.setdefault(key, []).append(file)
    return datasets.load_dataset("parquet", data_files=by_split)


def load_source(source: str | Path, split: str | None = None, on_error: str = "raise", label_x_shift: float = 0.0,
                val_fraction: float = 0.1, skipped: list[str] | None = None):
    """Load any supported source (see module docstring) as a `datasets.Dataset` in fkp's schema.

    ``split``: None for all rows (the "train" split of a Hub / save_to_disk dataset), a named split
    of such a dataset, or "train" / "val" for the sides of train.py's person-wise split (see
    `_pick_split`). ``label_x_shift``: see `read_ytf68_photos` (ytf68 layout only).

    Bad input raises a DataError naming the file, line (or row) and field: an empty or header-only
    file, a ragged row, a value that is not a number, text that is not UTF-8, missing columns, a
    keypoint outside its image by more than `OUTSIDE_MARGIN` of the image's side. With
    ``on_error="skip"`` bad rows are skipped instead, logged and counted (their messages appended
    to ``skipped`` when given); a source without any good row is still an error.
    """
    dataset = _read_source(source, on_error, label_x_shift, skipped)
    return _pick_split(dataset, split, str(source), val_fraction, on_error, skipped)


def _load_arrow(path: Path, load: Callable[[], object]):
    """``load()`` (a parquet or save_to_disk read), its failures turned into a DataError naming ``path``."""
    import datasets.exceptions
    import pyarrow

    try:
        return load()
    except (OSError, ValueError, pyarrow.ArrowException, datasets.exceptions.DatasetsError) as error:
        raise DataError(f"{path}: cannot read it as parquet / a saved dataset "
                        f"({type(error).__name__}: {error})") from None


def _rows_of(path: Path, rows: Iterable[dict]):
    """A Dataset of reader rows; a DataError when every row was skipped."""
    rows = list(rows)
    if not rows:
        raise DataError(f"{path}: no rows left after skipping bad rows")
    return _from_rows(rows)


def _read_source(source: str | Path, on_error: str, label_x_shift: float, skipped: list[str] | None = None):
    """A source as a Dataset or DatasetDict (schema not yet checked)."""
    import datasets

    path = Path(source)
    if not path.exists():
        if str(source).startswith((".", "/", "~")) or path.suffix:
            raise DataError(f"{source}: no such file or folder")
        return load_hub_dataset(str(source))
    if path.is_dir():
        if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            return _load_arrow(path, lambda: datasets.load_from_disk(str(path)))
        if ytf68_tables(path):
            return _rows_of(path, read_ytf68(path, on_error, label_x_shift, skipped))
        parquet = sorted(str(p) for p in path.rglob("*.parquet"))
        if parquet:
            return _load_arrow(path, lambda: datasets.load_dataset("parquet", data_files=parquet, split="train"))
        raise DataError(f"{path}: not a save_to_disk folder, a ytf68-layout folder or a folder of parquet files")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _load_arrow(path, lambda: datasets.load_dataset("parquet", data_files=str(path), split="train"))
    if suffix in (".csv", ".zip"):
        if path.name.endswith("_frames_keypoints.csv"):
            return _rows_of(path, read_ytf68(path, on_error, label_x_shift, skipped))
        return _rows_of(path, read_kaggle_csv(path, on_error, skipped))
    raise DataError(f"{path}: unsupported file type {suffix!r} (expected .csv, .zip, .parquet or a folder)")


# ---------------------------------------------------------------------------------------------
# Splits and arrays


def _bucket(key: str) -> float:
    """Deterministic value in [0, 1) from a string (stable across runs and machines)."""
    return int(hashlib.md5(key.encode()).hexdigest()[:8], 16) / 2**32


def in_validation(person: str, row_id: str, val_fraction: float = 0.1, seed: int = 0) -> bool:
    """Whether a row falls on the validation side of the deterministic split: decided by person
    where the person is known (so no one appears on both sides), else by row id."""
    key = person if person else f"row:{row_id}"
    return _bucket(f"{seed}:{key}") < val_fraction


def split_dataset(dataset, val_fraction: float = 0.1, seed: int = 0):
    """Deterministic train/validation split (`in_validation`). Returns (train, validation)."""
    is_val = np.array([in_validation(p, i, val_fraction, seed) for p, i in zip(dataset["person"], dataset["id"])])
    return dataset.select(np.flatnonzero(~is_val)), dataset.select(np.flatnonzero(is_val))


def to_arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 96, 96) uint8 and keypoints (N, 15, 2) float32 of a dataset in fkp's schema."""
    if len(dataset) == 0:
        return np.zeros((0, FRAME_SIZE, FRAME_SIZE), np.uint8), np.zeros((0, NUM_KEYPOINTS, 2), np.float32)
    images = np.stack([np.asarray(img.convert("L")) for img in dataset["image"]])
    keypoints = np.asarray(dataset.with_format("numpy")["keypoints"], dtype=np.float32)
    return images, keypoints


def keypoint_statistics(keypoints: np.ndarray) -> pd.DataFrame:
    """Per-keypoint mean and std of x and y over present points, indexed by Kaggle column name."""
    flat = keypoints.reshape(len(keypoints), -1)
    return pd.DataFrame({"mean": np.nanmean(flat, axis=0), "std": np.nanstd(flat, axis=0), "count": np.isfinite(flat).sum(0)}, index=KAGGLE_COLUMNS)


def _numbers(table: pd.DataFrame, name: str) -> np.ndarray:
    """A table of number strings (blank = NaN) as float64; a DataError names the first bad cell."""
    try:
        return table.replace("", "nan").to_numpy(np.float64)
    except ValueError:
        for index, row in enumerate(table.itertuples(index=False)):
            for column, value in zip(table.columns, row):
                if value.strip() and not _is_number(value):
                    raise DataError(f"{name}: row {index}, field {column!r}: {value!r} is not a number") from None
        raise


def read_kaggle_labels(path: str | Path) -> np.ndarray:
    """(N, 15, 2) keypoints of a Kaggle label table (training_keypoints.csv or training.csv)."""
    table = read_table(path, KAGGLE_COLUMNS)
    return _numbers(table[list(KAGGLE_COLUMNS)], str(path)).astype(np.float32).reshape(-1, NUM_KEYPOINTS, 2)


def compare_statistics(converted: np.ndarray, kaggle: np.ndarray) -> pd.DataFrame:
    ours, theirs = keypoint_statistics(converted), keypoint_statistics(kaggle)
    return pd.DataFrame(
        {"kaggle_mean": theirs["mean"], "ours_mean": ours["mean"], "kaggle_std": theirs["std"], "ours_std": ours["std"]}
    ).round(2)


class HeatmapDataset:
    """Torch-style dataset of (image, heatmaps, weights, keypoints) for training and validation.

    image (1, 96, 96) float32 in [0, 1]; heatmaps (K, H, W) and weights (K,) from ``codec`` (an
    `fkp.heatmaps.HeatmapCodec`, e.g. the model's `codec`);
    keypoints (K, 2) float32 in frame pixels, NaN where missing. ``augmentation`` (an
    `fkp.transforms.Augmentation`) is applied with a per-item generator seeded from ``seed``, the
    epoch (``set_epoch``) and the index, so runs are reproducible for any number of workers/processes.
    """

    def __init__(self, images: np.ndarray, keypoints: np.ndarray, codec, augmentation=None, seed: int = 0):
        self.images, self.keypoints = images, keypoints
        self.codec, self.augmentation, self.seed, self.epoch = codec, augmentation, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        import torch

        image, keypoints = self.images[index], self.keypoints[index]
        if self.augmentation is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, keypoints = self.augmentation(image, keypoints, rng)
        heatmaps, weights = self.codec.encode(keypoints)
        return (
            torch.from_numpy(image.astype(np.float32) / 255.0)[None],
            torch.from_numpy(heatmaps),
            torch.from_numpy(weights),
            torch.from_numpy(np.asarray(keypoints, dtype=np.float32)),
        )


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None, prog: str = "python -m fkp.data") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="write any source in fkp's schema as parquet")
    convert.add_argument("source")
    convert.add_argument("out", help="output .parquet file")
    convert.add_argument("--split", default=None)
    convert.add_argument("--skip-bad-rows", action="store_true", help=SKIP_BAD_ROWS_HELP)
    convert.add_argument("--label-x-shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    convert.add_argument("--val-fraction", type=float, default=0.1, help="with --split train/val: train.py's --val_fraction")
    convert.add_argument("--push-to-hub", metavar="REPO_ID", default=None)
    calibrate = commands.add_parser("calibrate", help="fit the ytf68 framing on Kaggle's label statistics and compare")
    calibrate.add_argument("--kaggle", required=True, help="Kaggle training_keypoints.csv or training.csv")
    calibrate.add_argument("--ytf68", required=True, help="ytf68-layout folder")
    calibrate.add_argument("--label-x-shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.command == "convert":
        dataset = load_source(args.source, args.split, on_error="skip" if args.skip_bad_rows else "raise",
                              label_x_shift=args.label_x_shift, val_fraction=args.val_fraction)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(args.out)
        print(f"wrote {len(dataset)} rows to {args.out}")
        if args.push_to_hub:
            import shlex
            import sys

            from .card import dataset_card

            dataset.push_to_hub(args.push_to_hub)
            command = shlex.join(["fkp", "convert", *(sys.argv[1:] if argv is None else argv)[1:]])
            card = dataset_card(dataset, args.source, command, args.label_x_shift)
            card.push_to_hub(args.push_to_hub, repo_type="dataset")
            print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub} with a dataset card")
    else:
        kaggle = read_kaggle_labels(args.kaggle)
        if not ytf68_tables(args.ytf68):
            raise DataError(f"{args.ytf68}: no NAME_frames_keypoints.csv with a NAME/ image folder beside it")
        landmarks = np.concatenate([read_landmarks(csv) for csv, _ in ytf68_tables(args.ytf68)])
        landmarks[..., 0] += args.label_x_shift
        framing = fit_framing(landmarks, np.nanmean(kaggle, axis=0))
        print(f"fitted: {framing}\nin use: {LANDMARK_FRAMING}")
        converted = []
        for l in landmarks:
            converted.append(apply_affine(crop_matrix(*landmark_crop(l, framing)), ibug68_to_kaggle(l)))
        table = compare_statistics(np.stack(converted), kaggle)
        print(table.to_string())
        print(f"mean |mean difference| {np.abs(table.ours_mean - table.kaggle_mean).mean():.2f} px; "
              f"mean std ratio (ours / kaggle) {(table.ours_std / table.kaggle_std).mean():.2f}")


def read_landmarks(csv_path: str | Path) -> np.ndarray:
    """(N, 68, 2) landmarks of a ytf68 CSV, without reading the photos."""
    table = read_table(csv_path)
    if table.shape[1] != 1 + 68 * 2:
        raise DataError(f"{csv_path}: {table.shape[1]} columns, expected a file name + 136 landmark coordinates")
    return _numbers(table.iloc[:, 1:], str(csv_path)).reshape(-1, 68, 2)


if __name__ == "__main__":
    import sys

    from .errors import run_cli

    sys.exit(run_cli(main, prog="python -m fkp.data"))
