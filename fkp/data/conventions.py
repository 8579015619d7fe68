"""Label conventions: where each source puts the 15 Kaggle keypoints, and the corrections that move a
source's labels onto the convention fkp's shipped model follows, applied where the data is read.

fkp follows 300-W's convention (the human annotation of HELEN, AFW, LFPW and iBUG at the photos' full
resolution, the reference most face-landmark research reports against). The ytf68 folder's labels
differ from it in two ways, both measured with dlib's 68-point predictor (trained on 300-W) by
``benchmarks/label_offset.py``:

1. every x label sits 1.3 photo pixels to the right (``--label_x_shift -1.3``, in photo pixels: a
   labelling artefact that does not scale with the face);
2. some keypoints are placed differently, most of all the inner brow ends (about 4 frame px further
   apart) and the nose tip (about 3 frame px lower): `LABEL_CORRECTIONS["ytf68"]`, in pixels of the
   96x96 frame (scale-free, since the frame is fitted to the face), is dlib's mean error on ytf68's
   training people minus its mean error on helen_afw68's training faces, so that only the difference
   of the two sources' conventions is corrected, not dlib's own bias.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..keypoints import NUM_KEYPOINTS

# (15, 2) frame-pixel corrections added to a source's keypoints, in KEYPOINT_NAMES order
LABEL_CORRECTIONS: dict[str, list[list[float]] | None] = {
    "none": None,
    # python benchmarks/label_offset.py --data ../shared/data/ytf68 --label-x-shift -1.3 --split train --every 2
    # minus the same on ../shared/data/helen_afw68 (--label-x-shift 0): to be used with --label_x_shift -1.3
    "ytf68": [
        [0.10, -0.75],  # left_eye_center
        [1.31, -0.32],  # right_eye_center
        [0.18, -0.39],  # left_eye_inner_corner
        [-0.14, -0.42],  # left_eye_outer_corner
        [1.13, -0.14],  # right_eye_inner_corner
        [1.23, 0.15],  # right_eye_outer_corner
        [-3.00, 0.87],  # left_eyebrow_inner_end
        [0.10, 0.83],  # left_eyebrow_outer_end
        [4.55, 1.23],  # right_eyebrow_inner_end
        [1.38, 1.49],  # right_eyebrow_outer_end
        [0.46, -2.72],  # nose_tip
        [0.97, -1.25],  # mouth_left_corner
        [0.82, -0.87],  # mouth_right_corner
        [0.42, -0.58],  # mouth_center_top_lip
        [0.44, -0.78],  # mouth_center_bottom_lip
    ],
}

LABEL_CORRECTION_HELP = (
    "correction added to each keypoint of a ytf68-layout folder when read, to move its labels onto "
    "300-W's convention: 'none', 'ytf68' (measured for ../shared/data/ytf68 by benchmarks/label_offset.py) "
    "or a JSON file of 15 [dx, dy] pairs in 96x96 frame pixels"
)


def label_correction(name: str | None) -> np.ndarray | None:
    """The (15, 2) float32 correction named ``name`` (a key of LABEL_CORRECTIONS or a JSON file), or None."""
    if name is None or name == "none":
        return None
    if name in LABEL_CORRECTIONS:
        return np.asarray(LABEL_CORRECTIONS[name], dtype=np.float32)
    path = Path(name)
    if not path.is_file():
        raise DataError(f"label correction {name!r}: neither one of {sorted(LABEL_CORRECTIONS)} nor a JSON file")
    try:
        values = np.asarray(json.loads(path.read_text()), dtype=np.float32)
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a JSON list of 15 [dx, dy] pairs ({error})") from None
    if values.shape != (NUM_KEYPOINTS, 2) or not np.isfinite(values).all():
        raise DataError(f"{path}: expected {NUM_KEYPOINTS} finite [dx, dy] pairs, got shape {values.shape}")
    return values
