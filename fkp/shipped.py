"""The keypoint models shipped with fkp, by name, and where a model given by name, folder or Hub id is
loaded from. No heavy imports, so that the commands' ``--help`` can use `MODEL_HELP`.

    model_source("accurate")   # -> .../fkp/weights/accurate
    model_source("runs/fkp")   # a local folder, as it is
    model_source("user/model") # a Hugging Face Hub id, as it is
    model_source(None)         # $FKP_MODEL (any of these) if set, else the fast model
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from .errors import FkpError

WEIGHTS = Path(__file__).parent / "weights"
# name -> folder (each with its model card, README.md); the first is the default
SHIPPED_MODELS = {
    "fast": WEIGHTS,  # 2 stacks x 64 channels, output stride 4: at dlib's speed per face on a CPU
    "accurate": WEIGHTS / "accurate",  # 2 stacks x 128 channels, stride 2: more accurate on photos, ~4-5x the time
}
DEFAULT_MODEL = SHIPPED_MODELS["fast"]
MODEL_HELP = (
    "a shipped model ('fast', the default; 'accurate': more accurate on photos, about 4-5x the keypoint time a "
    "face), a model folder or a Hugging Face Hub id (owner/name); default: $FKP_MODEL or 'fast'"
)


def model_source(model: str | os.PathLike | None = None) -> str:
    """Where to load ``model`` from: a shipped model's name -> its folder; a local folder or a Hub id
    (owner/name) as it is; None or "" -> $FKP_MODEL (any of these) if set, else the fast model.

    A name wins over a folder of that name in the working directory (with a warning; write ./fast for
    the folder). A `pathlib.Path`, or a string starting with /, ./, ../ or ~, is always a local path.
    Raises `FkpError` naming the problem (and $FKP_MODEL where the value came from it) when ``model``
    is none of these.
    """
    origin = ""
    if model is None or model == "":
        model, origin = os.environ.get("FKP_MODEL") or "fast", "$FKP_MODEL=" if os.environ.get("FKP_MODEL") else ""
    if isinstance(model, os.PathLike) or str(model).startswith(("/", "./", "../", "~", ".\\", "..\\")):
        folder = Path(model).expanduser()
        if not folder.is_dir():
            raise FkpError(f"{origin}{model}: no such model folder")
        return str(folder)
    name = str(model)
    if name in SHIPPED_MODELS:
        if Path(name).is_dir():
            warnings.warn(
                f"{name!r} is fkp's shipped {name} model, not the folder {name}/ here; give ./{name} for the folder",
                stacklevel=2,
            )
        return str(SHIPPED_MODELS[name])
    if Path(name).is_dir() or name.count("/") == 1:  # a local folder, or a Hub id (owner/name)
        return name
    raise FkpError(
        f"no model {origin}{name!r}: not a shipped model ({', '.join(repr(n) for n in SHIPPED_MODELS)}), "
        "not a local folder, and not a Hugging Face Hub id (owner/name)"
    )


def shipped_name(source: str | os.PathLike) -> str | None:
    """The name of the shipped model whose folder ``source`` is (as `model_source` gives it), else None."""
    for name, folder in SHIPPED_MODELS.items():
        if str(source) == str(folder):
            return name
    return None


def default_model_source() -> str:
    """$FKP_MODEL (a shipped model's name, a local folder or a Hub id) if set, else the fast model."""
    return model_source(None)
