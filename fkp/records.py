"""The lines `fkp predict` writes, one home for their shape: built from a photo's (or a video frame's)
faces as JSON-ready dicts (`face_lines`), and flattened into CSV rows (`csv_row`, `write_csv`), one row
per line, so one per face and frame.

A line, as `fkp predict --out` writes it (see `fkp.predict`): {"file", "width", "height", ["frame",
"time",] "face" (its number from 1, or None), ["track",] "annotated", "box" {x, y, width, height, score,
roll_degrees}, "face_score", "keypoints" {name: {x, y, confidence}}, "model"}, or for a photo / frame
without a face {"file", ..., "face": None, "error", "model"}, for an unreadable input {"file", "face":
None, "error", "model"}. "model" names the keypoint model of the run (`fkp.shipped.model_label`:
"fast", "accurate", a folder's absolute path or a Hub id; in the demo's lines never a server path).
Coordinates are original-photo pixels (x right, y down, pixel centres at integers).

    with open("results.csv", "w", newline="") as handle:
        write_csv(handle, lines)            # CSV_COLUMNS, then one row per line
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .errors import DataError
from .keypoints import KEYPOINT_NAMES

if TYPE_CHECKING:
    from .pipeline import FaceResult

BOX_FIELDS = ("x", "y", "width", "height", "score", "roll_degrees")
KEYPOINT_FIELDS = ("x", "y", "confidence")
# One CSV row per line: where (file, frame, time), which face (track id, number), its box and face score,
# then x, y and confidence of each keypoint in KEYPOINT_NAMES order, and the error of a line without a face.
CSV_COLUMNS: tuple[str, ...] = (
    ("file", "width", "height", "frame", "time", "track", "face")
    + tuple(f"box_{name}" for name in BOX_FIELDS)
    + ("face_score",)
    + tuple(f"{name}_{field}" for name in KEYPOINT_NAMES for field in KEYPOINT_FIELDS)
    + ("annotated", "error", "model")
)


def face_lines(
    file: str,
    width: int,
    height: int,
    faces: Sequence[FaceResult],
    frame: int | None = None,
    time: float | None = None,
) -> list[dict]:
    """The lines of one photo, or with ``frame`` (index from 0) and ``time`` (seconds) of one video frame:
    one per face, numbered from 1 in the order given (`fkp.pipeline.reading_order`), video lines with each
    face's "track" id; or one line with "face": None and "error": "no face found". "annotated" is None
    (the caller fills in the drawn file); the writer adds "model" (`fkp.shipped.model_label`)."""
    where: dict[str, Any] = {"file": file, "width": width, "height": height}
    if frame is not None:
        where.update(frame=frame, time=round(float(time or 0.0), 4))
    video = frame is not None
    if not faces:
        return [{**where, "face": None, **({"track": None} if video else {}), "error": "no face found"}]
    return [
        {**where, "face": number, **({"track": face.track} if video else {}), "annotated": None, **face.as_dict()}
        for number, face in enumerate(faces, start=1)
    ]


def csv_row(line: dict) -> list:
    """One line (a dict as `fkp predict` writes it, `face_lines`) as a CSV row in CSV_COLUMNS order; a
    field the line does not have (frame, time and track of a photo, everything but file and error of a
    line without a face) is empty. Raises `DataError` naming the file and field of a malformed line."""
    if not isinstance(line, dict):
        raise DataError(f"a line of fkp predict is a JSON object, not {type(line).__name__}")
    name = line.get("file", "?")
    values: dict[str, Any] = {column: line.get(column) for column in CSV_COLUMNS[:7] + ("face_score",)}
    values["annotated"], values["error"], values["model"] = line.get("annotated"), line.get("error"), line.get("model")
    box = line.get("box") or {}
    keypoints = line.get("keypoints") or {}
    if not isinstance(box, dict) or not isinstance(keypoints, dict):
        raise DataError(f"{name}: fields 'box' and 'keypoints' must be JSON objects")
    for field in BOX_FIELDS:
        values[f"box_{field}"] = box.get(field)
    if line.get("face") is not None:
        for keypoint in KEYPOINT_NAMES:
            point = keypoints.get(keypoint)
            if not isinstance(point, dict):
                raise DataError(f"{name}, face {line['face']}: field 'keypoints.{keypoint}' is missing")
            for field in KEYPOINT_FIELDS:
                values[f"{keypoint}_{field}"] = point.get(field)
    return ["" if values.get(column) is None else values[column] for column in CSV_COLUMNS]


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def write_csv(handle: _Writable, lines: Iterable[dict], header: bool = True) -> int:
    """Write CSV_COLUMNS (if ``header``) and one row per line to ``handle`` (a text file opened with
    newline="", or anything with ``write``), rows ended by "\\n"; returns the number of rows."""
    writer = csv.writer(handle, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    count = 0
    for line in lines:
        writer.writerow(csv_row(line))
        count += 1
    return count
