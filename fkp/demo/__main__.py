"""python -m fkp.demo [--host 127.0.0.1] [--port 7860] [--share]"""

import sys

from . import main

sys.exit(main())
