"""Errors a user can act on, and how command-line entry points report them.

An `FkpError`'s message is the whole story for a user: which file, line and field, what is wrong and
what to do. Command-line tools print it as one line and exit with status 2, without a traceback;
``--debug`` on the command line (or ``FKP_DEBUG=1``) shows the traceback as well.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence


class FkpError(ValueError):
    """A problem with the user's input or setup; the message names it in plain words."""


class DataError(FkpError):
    """Bad input data; the message names the file, row and field."""


def debug_requested(argv: Sequence[str] | None = None) -> bool:
    """Whether tracebacks are wanted: ``--debug`` in ``argv`` (default sys.argv) or FKP_DEBUG=1."""
    argv = sys.argv[1:] if argv is None else argv
    return "--debug" in argv or os.environ.get("FKP_DEBUG", "").lower() in ("1", "true", "yes")


def run_cli(main: Callable[..., int | None], argv: Sequence[str] | None = None, *args, prog: str | None = None) -> int:
    """Run a command-line ``main(argv, *args)`` and turn an `FkpError` into ``prog: error: message``
    on stderr with exit status 2 (the traceback too with ``--debug``). ``--debug`` is removed from
    ``argv`` before ``main`` parses it. Returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    argv = [arg for arg in argv if arg != "--debug"]
    try:
        return main(argv, *args) or 0
    except FkpError as error:
        if debug:
            raise
        name = prog or os.path.basename(sys.argv[0]) or "fkp"
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
