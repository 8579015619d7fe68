"""The deterministic person-wise train/validation split that train.py, `fkp evaluate --split`,
`fkp calibrate keypoints` and the benchmarks share: a row is on the validation side when an md5 hash
of its person (or, where the person is unknown, of its row id) falls below ``val_fraction``, so no
one appears on both sides and every run on every machine draws the same line. The default share,
`VAL_FRACTION`, lives in `fkp.options` (no heavy import, for --help); `SPLIT_SIDES` names the two
sides for ``--split``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..options import VAL_FRACTION  # the default validation share of the split (train.py's --val_fraction)

# The sides of train.py's deterministic person-wise split (`split_dataset`), selectable by name.
SPLIT_SIDES = {"train": 0, "val": 1}


def _bucket(key: str) -> float:
    """Deterministic value in [0, 1) from a string (stable across runs and machines)."""
    return int(hashlib.md5(key.encode()).hexdigest()[:8], 16) / 2**32


def in_validation(person: str, row_id: str, val_fraction: float = VAL_FRACTION, seed: int = 0) -> bool:
    """Whether a row falls on the validation side of the deterministic split: decided by person
    where the person is known (so no one appears on both sides), else by row id."""
    key = person if person else f"row:{row_id}"
    return _bucket(f"{seed}:{key}") < val_fraction


def split_dataset(dataset, val_fraction: float = VAL_FRACTION, seed: int = 0):
    """Deterministic train/validation split (`in_validation`) of a dataset in fkp's schema.
    Returns (train, validation)."""
    is_val = np.array([in_validation(p, i, val_fraction, seed) for p, i in zip(dataset["person"], dataset["id"])])
    return dataset.select(np.flatnonzero(~is_val)), dataset.select(np.flatnonzero(is_val))
