"""fkp's data: every source loaded into one schema, split by person, served to training. The map:

    schema       the schema (`features()`: id, person, 96x96 image, (15, 2) keypoints) and its checks
    tables       CSV reading whose errors name file, line and field; `BadRows` (raise or skip)
    kaggle       Kaggle's training.csv / training.zip / test.csv, and its label tables alone
    ytf68        photo folders with iBUG-68 landmarks, cropped into Kaggle-like frames (`ytf68_frame`) where
                 the labels or the face detector put each face
    detector_framing  ``fkp calibrate detector``: fit a detector's crop on labelled photos
    sources      `load_source`: any source (file, folder, Hub id) -> a checked `datasets.Dataset`
    splits       the person-wise train/validation split and its default share `VAL_FRACTION`
    dataset      `to_arrays` and the torch-style `HeatmapDataset` for training
    calibration  label statistics for `fkp calibrate framing`
    card         the dataset card that `fkp convert --push-to-hub` writes
    cli          ``python -m fkp.data convert | calibrate`` (``fkp convert``, ``fkp calibrate framing``)

Crop framing lives in `fkp.framing`, the iBUG-68 -> Kaggle map in `fkp.keypoints`.
"""

from ..errors import DataError
from ..options import LABEL_X_SHIFT_HELP, SKIP_BAD_ROWS_HELP, VAL_FRACTION
from .calibration import keypoint_statistics
from .cli import main
from .dataset import HeatmapDataset, to_arrays
from .kaggle import read_kaggle_csv, read_kaggle_labels
from .schema import OUTSIDE_MARGIN, features
from .sources import is_ytf68, load_hub_dataset, load_source, source_name
from .splits import SPLIT_SIDES, in_validation, split_dataset
from .tables import BadRows, read_table
from .ytf68 import (
    named_crop,
    person_of,
    read_landmarks,
    read_ytf68,
    read_ytf68_photos,
    ytf68_frame,
    ytf68_tables,
)

__all__ = [
    "DataError",
    "keypoint_statistics",
    "main",
    "HeatmapDataset",
    "to_arrays",
    "read_kaggle_csv",
    "read_kaggle_labels",
    "OUTSIDE_MARGIN",
    "features",
    "load_hub_dataset",
    "load_source",
    "source_name",
    "SPLIT_SIDES",
    "VAL_FRACTION",
    "in_validation",
    "split_dataset",
    "SKIP_BAD_ROWS_HELP",
    "BadRows",
    "read_table",
    "LABEL_X_SHIFT_HELP",
    "named_crop",
    "person_of",
    "read_landmarks",
    "read_ytf68",
    "read_ytf68_photos",
    "ytf68_frame",
    "ytf68_tables",
    "is_ytf68",
]
