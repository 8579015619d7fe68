"""The ytf68 layout: a folder of NAME_frames_keypoints.csv tables (a file name + 136 iBUG-68 landmark
coordinates per row) each beside a NAME/ folder of photos. `read_ytf68_photos` yields the photos with
their landmarks; `read_ytf68` crops each into a Kaggle-like 96x96 frame (`ytf68_frame`: by default the
crop the landmarks imply, with the framing of `fkp.framing`; with ``crop="detector"`` where the face
detector puts the face, as the photo pipeline does) with the 15 Kaggle keypoints
(`fkp.keypoints.ibug68_to_kaggle`).
Frames of one person share a ``person`` (`person_of`), so person-wise splits keep them together.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..detect import DEFAULT_DETECTOR, DETECTORS, create_detector, match_face
from ..errors import DataError
from ..framing import LANDMARK_FRAMING, Framing, landmark_crop
from ..geometry import apply_affine, crop_matrix, warp
from ..keypoints import FRAME_SIZE, ibug68_to_kaggle
from .schema import check_inside
from .tables import BadRows, is_number, numbers, open_csv, ragged, read_table

logger = logging.getLogger(__name__)


def ytf68_tables(folder: str | Path) -> list[tuple[Path, Path]]:
    """(CSV, image folder) pairs of a ytf68-layout folder: NAME_frames_keypoints.csv + NAME/."""
    folder = Path(folder)
    if folder.is_file():
        pairs = [(folder, folder.parent / folder.name.replace("_frames_keypoints.csv", ""))]
    else:
        pairs = [
            (csv, folder / csv.name.replace("_frames_keypoints.csv", ""))
            for csv in sorted(folder.glob("*_frames_keypoints.csv"))
        ]
    return [(csv, images) for csv, images in pairs if images.is_dir()]


def person_of(file_name: str) -> str:
    """'Valerie_Harper_30.jpg' -> 'Valerie_Harper' (the trailing digits are clip and frame)."""
    return re.sub(r"_\d+$", "", Path(file_name).stem)


def _landmark_fields(header: list[str]) -> list[str]:
    """Names for the 136 coordinate columns of a ytf68 CSV in messages: "'12' (landmark 6 x)"."""
    return [f"{column!r} (landmark {i // 2} {'xy'[i % 2]})" for i, column in enumerate(header[1:])]


def read_ytf68_photos(
    folder: str | Path, on_error: str = "raise", label_x_shift: float = 0.0, skipped: list[str] | None = None
) -> Iterator[tuple[str, str, np.ndarray, np.ndarray]]:
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
                    error = ragged(row, header, where)
                    if error:
                        raise error
                    file_name = row[0]
                    bad = [(f, v) for f, v in zip(fields, row[1:]) if not is_number(v)]
                    if bad:
                        raise DataError(f"{where}, field {bad[0][0]}: {bad[0][1]!r} is not a number")
                    landmarks = np.array(row[1:], dtype=np.float64).reshape(68, 2)
                    try:
                        with Image.open(image_dir / file_name) as img:  # opened by content: the .jpg files are PNG
                            photo = np.asarray(img.convert("RGB"))
                    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as error:
                        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
                        raise DataError(
                            f"{where}, field {header[0] or 'file'!r}: cannot read image "
                            f"{image_dir / file_name}: {reason}"
                        ) from None
                    height, width = photo.shape[:2]
                    check_inside(landmarks, width, height, where, fields, "photo")
                    landmarks[:, 0] += label_x_shift
                except DataError as error:
                    bad_rows.skip(error)
                    continue
                yield f"{image_dir.name}/{file_name}", person_of(file_name), photo, landmarks
    bad_rows.report()


def ytf68_frame(
    photo: np.ndarray,
    landmarks68: np.ndarray,
    framing: Framing = LANDMARK_FRAMING,
    matrix: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop a photo into a Kaggle-like frame.

    Args:
        photo: (H, W) uint8 grayscale photo.
        landmarks68: (68, 2) iBUG landmarks in photo pixels.
        framing: how the landmarks place the crop (when ``matrix`` is None).
        matrix: a 2x3 photo -> frame matrix to crop with instead (e.g. `detector_crop`'s).

    Returns:
        the (96, 96) uint8 frame, its (15, 2) keypoints in frame pixels and the 2x3 photo->frame matrix.
    """
    if matrix is None:
        matrix = crop_matrix(*landmark_crop(landmarks68, framing))
    frame = warp(photo, matrix)
    return frame, apply_affine(matrix, ibug68_to_kaggle(landmarks68)).astype(np.float32), matrix


def detector_crop(detector, photo: np.ndarray, landmarks68: np.ndarray) -> np.ndarray | None:
    """The 2x3 photo -> frame matrix of the crop that ``detector`` (a `fkp.detect.FaceDetector`) gives the
    labelled face of an RGB photo (H, W, 3), as the photo pipeline crops it (`FaceKeypoints.detect`, before
    its face-score filter); None when it finds no
    detection on that face, or one whose crop leaves a keypoint outside the frame."""
    boxes = detector.detect(photo)
    index = match_face(boxes, landmarks68)
    if index is None:
        return None
    matrix = detector.crop(boxes[index])
    keypoints = apply_affine(matrix, ibug68_to_kaggle(landmarks68))
    inside = np.isnan(keypoints) | ((keypoints >= -0.5) & (keypoints <= FRAME_SIZE - 0.5))
    return matrix if inside.all() else None


def named_crop(crop: str, source: str | Path = "--crop") -> str:
    """A crop as a run records it, with its detector named: "labels" as it is; "detector" ->
    "detector:<DEFAULT_DETECTOR>" (what a run recorded before crops named their detector meant: the
    default has not changed since); "detector:NAME" as it is. A DataError naming ``source`` otherwise."""
    if crop == "labels":
        return crop
    kind, colon, name = crop.partition(":")
    if kind != "detector" or (colon and not name):
        raise DataError(f"{source}: unknown crop {crop!r}; choose 'labels', 'detector' or 'detector:NAME'")
    name = name or DEFAULT_DETECTOR
    if name not in DETECTORS:
        choices = ", ".join(sorted(DETECTORS))
        raise DataError(f"{source}: unknown face detector {name!r} in crop {crop!r}; choose from {choices}")
    return f"detector:{name}"


def read_ytf68(
    folder: str | Path,
    on_error: str = "raise",
    label_x_shift: float = 0.0,
    skipped: list[str] | None = None,
    label_correction: np.ndarray | None = None,
    crop: str = "labels",
) -> Iterator[dict]:
    """Rows of a ytf68-layout folder converted to Kaggle-like 96x96 frames (see `read_ytf68_photos`).
    ``label_correction``: (15, 2) frame pixels added to every row's keypoints (`fkp.data.conventions`).

    ``crop``: "labels" cuts each frame where the landmarks imply (`fkp.framing.landmark_crop`: every
    face at the same place and size); "detector" where the default face detector puts it, "detector:NAME"
    where the named one does (`detector_crop`, `named_crop`), i.e. the frames the photo pipeline gives the
    model, with the detector's own errors of place, size and angle; a face it misses keeps the labels'
    crop (counted in the log).
    Measured in issue 17: the same fine-tuning on helen_afw68's detector crops instead of its labels'
    crops scored whole-photo NME 0.0305 instead of 0.0326, with the same figures on labels' crops."""
    crop = named_crop(crop, folder)
    detector = None
    if crop != "labels":
        detector = create_detector(crop.split(":", 1)[1])
    missed = 0
    for row_id, person, photo, landmarks in read_ytf68_photos(folder, on_error, label_x_shift, skipped):
        gray = np.asarray(Image.fromarray(photo).convert("L"))
        matrix = None if detector is None else detector_crop(detector, photo, landmarks)
        missed += detector is not None and matrix is None
        frame, keypoints, _ = ytf68_frame(gray, landmarks, matrix=matrix)
        if label_correction is not None:
            keypoints = keypoints + label_correction
        yield {"id": row_id, "person": person, "image": frame, "keypoints": keypoints}
    if missed:
        logger.info(
            "%s: %d face(s) missed by the detector or cropped with a keypoint outside the frame keep the labels' crop",
            folder,
            missed,
        )


def read_landmarks(csv_path: str | Path) -> np.ndarray:
    """(N, 68, 2) landmarks of a ytf68 CSV, without reading the photos."""
    table = read_table(csv_path)
    if table.shape[1] != 1 + 68 * 2:
        raise DataError(f"{csv_path}: {table.shape[1]} columns, expected a file name + 136 landmark coordinates")
    return numbers(table.iloc[:, 1:], str(csv_path)).reshape(-1, 68, 2)
