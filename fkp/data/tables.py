"""Reading CSV tables (or the only CSV inside a .zip) so that every problem is a DataError naming the
file, line and field: text that is not UTF-8, malformed CSV, an empty or header-only file, a ragged
row, a value that is not a number. `BadRows` is what a reader does with a bad row: stop at it
(on_error="raise") or log, count and skip it ("skip"). The readers of each layout (`fkp.data.kaggle`,
`fkp.data.ytf68`) and `fkp.submit` build on these.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

logger = logging.getLogger("fkp.data")

Row = tuple[int, list[str]]  # (line number, fields) of a CSV row


def _decoded_lines(handle: Iterable[bytes], name: str) -> Iterator[str]:
    """The lines of a binary file as text; a line that is not UTF-8 is a DataError naming it."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise DataError(
                f"{name}: line {number}: not UTF-8 text (byte 0x{raw[error.start]:02x} at column "
                f"{error.start + 1}); is it a CSV file? Save it as UTF-8 CSV"
            ) from None


def _csv_rows(handle: Iterable[bytes], name: str) -> Iterator[Row]:
    """(line number, fields) of each non-blank CSV row; malformed CSV is a DataError naming the line."""
    reader = csv.reader(_decoded_lines(handle, name))
    try:
        for row in reader:
            if row:
                yield reader.line_num, row
    except csv.Error as error:
        raise DataError(f"{name}: line {reader.line_num + 1}: not valid CSV ({error})") from None


def _chain_first(first: Row, rest: Iterator[Row]) -> Iterator[Row]:
    yield first
    yield from rest


@contextlib.contextmanager
def open_csv(path: str | Path) -> Iterator[tuple[str, list[str], Iterator[Row]]]:
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


def read_table(path: str | Path, columns: Sequence[str] = ()) -> pd.DataFrame:
    """A small CSV table as strings (blank = ""); a DataError names the file and line of an empty or
    header-only file, a ragged row, undecodable text or missing ``columns``."""
    with open_csv(path) as (name, header, rows):
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(
                f"{name}: missing column(s) {', '.join(missing)} (has {', '.join(header[:8])}"
                f"{', ...' if len(header) > 8 else ''})"
            )
        records = []
        for line, row in rows:
            if len(row) != len(header):
                raise DataError(f"{name}: line {line}: {len(row)} fields, expected {len(header)} as in the header")
            records.append(row)
    return pd.DataFrame(records, columns=header)


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float (as Python's float() reads it)."""
    try:
        float(text)
        return True
    except ValueError:
        return False


def ragged(row: list[str], header: list[str], where: str) -> DataError | None:
    """A DataError for a row whose field count differs from the header's, else None."""
    if len(row) == len(header):
        return None
    return DataError(f"{where}: {len(row)} fields, expected {len(header)} as in the header (a missing or extra comma?)")


def numbers(table: pd.DataFrame, name: str) -> np.ndarray:
    """A table of number strings (blank = NaN) as float64; a DataError names the first bad cell."""
    try:
        return table.replace("", "nan").to_numpy(np.float64)
    except ValueError:
        for index, row in enumerate(table.itertuples(index=False)):
            for column, value in zip(table.columns, row):
                if value.strip() and not is_number(value):
                    raise DataError(f"{name}: row {index}, field {column!r}: {value!r} is not a number") from None
        raise


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
