"""The keypoint models shipped with fkp, by name, and where a model given by name, folder or Hub id is
loaded from. No heavy imports, so that the commands' ``--help`` can use `MODEL_HELP`.

    model_source("accurate")   # -> .../fkp/weights/accurate
    model_source("runs/fkp")   # a local folder, as it is
    model_source("./fast")     # a local folder named like a shipped model: a path, never a name
    model_source("user/model") # a Hugging Face Hub id, as it is
    model_source(None)         # $FKP_MODEL (any of these) if set, else the fast model
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path, PureWindowsPath

from .errors import FkpError

WEIGHTS = Path(__file__).parent / "weights"
# name -> folder (each with its model card, README.md); the first is the default
SHIPPED_MODELS = {
    "fast": WEIGHTS,  # 2 stacks x 64 channels, output stride 4: 0.65 ms a face (2-core EPYC)
    "accurate": WEIGHTS / "accurate",  # 2 stacks x 128 channels, stride 2: more accurate on photos, ~5x the time
}
DEFAULT_MODEL = SHIPPED_MODELS["fast"]
MODEL_HELP = (
    "a shipped model ('fast', the default; 'accurate': more accurate on photos, about 5x the keypoint time a "
    "face), a model folder or a Hugging Face Hub id (owner/name); default: $FKP_MODEL or 'fast'"
)


def _is_path(text: str) -> bool:
    """Written as a path: absolute, ./ ../ or ~ first, or a Windows drive; never a name or a Hub id."""
    return (
        os.path.isabs(text) or text.startswith(("./", "../", "~", ".\\", "..\\")) or bool(PureWindowsPath(text).drive)
    )


def model_source(model: str | os.PathLike | None = None) -> str:
    """Where to load ``model`` from: a shipped model's name -> its folder; a local folder or a Hub id
    (owner/name) as it is; None or "" -> $FKP_MODEL (any of these) if set, else the fast model.
    Idempotent: what it returns gives the same again.

    A `pathlib.Path`, or a string written as a path (/, ./, ../, ~ or a drive first), is always a local
    folder; a bare name of a shipped model wins over a folder of that name here (with a warning: give
    ./fast for the folder). Raises `FkpError` naming the problem (and $FKP_MODEL where the value came
    from it) when ``model`` is none of these.
    """
    origin = ""
    if model is None or model == "":
        model = os.environ.get("FKP_MODEL") or ""
        if not model:
            return str(DEFAULT_MODEL)
        origin = "$FKP_MODEL="
    text = os.fspath(model)
    if isinstance(model, os.PathLike) or _is_path(text):
        text = os.path.expanduser(text)
        if not os.path.isabs(text) and not _is_path(text):
            text = os.path.join(".", text)  # stays a path when given again (Path("fast") -> "./fast")
        if not os.path.isdir(text):
            raise FkpError(f"{origin}{os.fspath(model)}: no such model folder")
        return text
    if text in SHIPPED_MODELS:
        if os.path.isdir(text):
            warnings.warn(
                f"{origin}{text!r} is fkp's shipped {text} model, not the folder {text}/ here; "
                f"give ./{text} for the folder",
                stacklevel=2,
            )
        return str(SHIPPED_MODELS[text])
    if os.path.isdir(text) or text.count("/") == 1:  # a local folder, or a Hub id (owner/name)
        return text
    raise FkpError(
        f"no model {origin}{text!r}: not a shipped model ({', '.join(repr(n) for n in SHIPPED_MODELS)}), "
        "not a local folder, and not a Hugging Face Hub id (owner/name)"
    )


def shipped_name(source: str | os.PathLike) -> str | None:
    """The name of the shipped model whose folder ``source`` is (any spelling of its path), else None."""
    path = Path(os.fspath(source)).expanduser()
    if not path.is_dir():
        return None
    for name, folder in SHIPPED_MODELS.items():
        if path.resolve() == folder.resolve():
            return name
    return None


def model_label(source: str | os.PathLike | None, hide_path: bool = False) -> str | None:
    """How results name a keypoint model (``source`` as `model_source` gives it): a shipped one by its
    name ("fast", "accurate"), a Hub id as it is, another folder by its absolute path, or with
    ``hide_path`` (a server's answers) by its last part only; None for no source (a model passed as an
    object)."""
    if source is None:
        return None
    name = shipped_name(source)
    if name:
        return name
    path = Path(os.fspath(source)).expanduser()
    if path.is_dir():
        return path.resolve().name if hide_path else str(path.resolve())
    return os.fspath(source)


def default_model_source() -> str:
    """$FKP_MODEL (a shipped model's name, a local folder or a Hub id) if set, else the fast model."""
    return model_source(None)
