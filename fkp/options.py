"""Defaults and help texts that several commands share, importable at no cost (no numpy, torch, pandas
or datasets), so that every ``fkp COMMAND --help`` answers at once."""

from __future__ import annotations

import argparse

VAL_FRACTION = 0.1  # the default validation share of the person-wise split (train.py's --val_fraction)

LABEL_X_SHIFT_HELP = (
    "photo pixels added to every x label of a ytf68-layout folder (default 0: no correction); "
    "the ytf68 data in ../shared needs -1.3 (benchmarks/label_offset.py)"
)

# Where a ytf68-layout folder's training frames are cut from its photos (`fkp.data.ytf68.read_ytf68`).
CROPS = ("labels", "detector")
CROP_HELP = (
    "where frames are cut from a ytf68-layout folder's photos: 'labels' (the crop the landmarks imply, "
    "the default), 'detector' (where the default face detector puts the face, as the photo pipeline "
    "crops it; the labels' crop where it finds none or its crop leaves a keypoint outside the frame) or "
    "'detector:NAME' (another detector, e.g. detector:blazeface; a run records the detector's name)"
)


def crop_value(value: str) -> str:
    """argparse type of --crop: 'labels', 'detector' or 'detector:NAME' (the name is checked where the
    detector is made: `fkp.data.ytf68.named_crop`)."""
    kind, colon, name = value.partition(":")
    if kind in CROPS and (not colon or (kind == "detector" and name)):
        return value
    raise argparse.ArgumentTypeError(f"invalid crop {value!r}: choose 'labels', 'detector' or 'detector:NAME'")


SKIP_BAD_ROWS_HELP = (
    "skip (and count) bad rows instead of stopping at the first: a ragged row, a value that is not a "
    "number, an unreadable photo, a keypoint outside its image by more than half the image's side"
)


def per_source(values, count: int | None = None) -> list:
    """A one-or-one-per-source argument (--label_x_shift, --label_correction) as a list: one value (or an
    old run's scalar record) repeated ``count`` times, a list of one value per source as it is; without
    ``count``, just the value(s) as a list."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    return values * count if count and len(values) == 1 else values
