"""``python -m fkp.data convert ...`` / ``calibrate ...``: runs `fkp.data.cli.main` (see there), a bad input
reported as one line with exit status 2 (`fkp.errors.run_cli`)."""

import sys

from ..errors import run_cli
from .cli import main

sys.exit(run_cli(main, prog="python -m fkp.data"))
