"""``fkp calibrate detector``: fit a detector's crop on a ytf68-layout folder (photos with 68
landmarks), so that its crops frame faces as the training frames did.

    fkp calibrate detector --detector blazeface --data ../shared/data/ytf68 --label-x-shift -1.3
"""

from __future__ import annotations

import argparse

import numpy as np

from ..detect import DEFAULT_DETECTOR, DETECTORS, create_detector, match_face
from ..framing import landmark_crop
from ..geometry import apply_affine, invert_affine
from ..keypoints import FRAME_SIZE
from ..options import LABEL_X_SHIFT_HELP
from .ytf68 import read_ytf68_photos


def main(argv: list[str] | None = None, prog: str = "python -m fkp.data.detector_framing") -> None:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="a ytf68-layout folder: photos with 68 landmarks")
    parser.add_argument("--detector", choices=sorted(DETECTORS), default=DEFAULT_DETECTOR)
    parser.add_argument("--label-x-shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    args = parser.parse_args(argv)

    detector = create_detector(args.detector)
    pairs, photos = [], 0
    for _, _, photo, landmarks in read_ytf68_photos(args.data, label_x_shift=args.label_x_shift):
        photos += 1
        boxes = detector.detect(photo)
        index = match_face(boxes, landmarks)
        if index is not None:
            pairs.append((boxes[index], landmarks))
    print(f"photos {photos}, faces found {len(pairs)} (missed {1 - len(pairs) / photos:.1%})")
    print(detector.fit_crop(pairs))
    centre_error, side_ratio = [], []
    for box, landmarks in pairs:  # the fitted crop against the landmark crop, both as photo -> frame matrices
        center, side = landmark_crop(landmarks)
        inverse = invert_affine(detector.crop(box))
        predicted_center = apply_affine(inverse, np.array([(FRAME_SIZE - 1) / 2] * 2))
        centre_error.append(np.linalg.norm(predicted_center - center) / side)
        side_ratio.append(np.sqrt(abs(np.linalg.det(inverse[:, :2]))) * FRAME_SIZE / side)
    print(
        f"crop centre error: median {np.median(centre_error):.3f}, "
        f"90th percentile {np.percentile(centre_error, 90):.3f} (fraction of crop side)"
    )
    print(
        f"crop size ratio: median {np.median(side_ratio):.3f}, "
        f"10th-90th percentile {np.percentile(side_ratio, 10):.3f}-{np.percentile(side_ratio, 90):.3f}"
    )


if __name__ == "__main__":
    from ..errors import run_cli

    raise SystemExit(run_cli(main, prog="python -m fkp.data.detector_framing"))
