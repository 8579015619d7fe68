"""``python -m fkp.detect calibrate ...``: the detector calibration (`fkp.detect.calibrate`)."""

import sys

from ..errors import run_cli
from .calibrate import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["calibrate"]:  # the old form, `python -m fkp.detect calibrate --data ...`
        argv = argv[1:]
    raise SystemExit(run_cli(main, argv, "python -m fkp.detect calibrate", prog="python -m fkp.detect calibrate"))
