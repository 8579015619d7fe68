"""Weight averaging of trained models (a "model soup"; WiSE-FT when one is the other's fine-tuning):
one model whose weights are the weighted mean of several models' weights, entry by entry.

    fkp average runs/avg runs/finetuned fkp/weights            # equal weights
    fkp average runs/avg runs/finetuned fkp/weights --weights 0.7 0.3

The models must share one network (the same config.json, apart from keypoint offsets, and the same
tensors); averaging only makes sense for models that share a starting point, e.g. a fine-tuned model
and the weights it started from (`train.py --init_from`): the mean of the two keeps most of what the
fine-tuning gained on its new data and gives back most of what it lost on the old.

The new folder takes the first model's records (training_args.json, train_summary.json, metrics.json:
its data, split and recipe, which `fkp calibrate keypoints`, `fkp quantize` and `fkp export` read) and
`average.json`, which names every model, its weight, the SHA-256 of its weights and its training
command, for the model card. The per-keypoint offsets are measured afresh (`fkp calibrate keypoints`:
the mean of the models' offsets is not the offset of their mean); until then the config has none.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

AVERAGE_RECORD = "average.json"
# what the first model's folder passes on to the average (its run's records)
RECORDS = ("training_args.json", "train_summary.json", "metrics.json")
OFFSET_KEYS = ("keypoint_offsets", "flip_keypoint_offsets")


def _model_folder(path: str):
    from .errors import FkpError
    from .model import missing_model_files  # torch: when run, not for --help

    folder = Path(path)
    missing = missing_model_files(folder)
    if missing:
        raise FkpError(f"{path}: not a model folder (no {' or '.join(missing)})")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise FkpError(f"{path}/config.json: cannot read it as JSON ({error})") from None
    if not isinstance(config, dict):
        raise FkpError(f"{path}/config.json: not a JSON object")
    return folder, config


def average_weights(states: list[dict], weights: list[float]) -> dict:
    """The weighted mean of state dicts (name -> tensor) with the same names and shapes; ``weights`` sum to 1.
    Integer tensors (BatchNorm's batch counters) are the first state's."""
    averaged = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            total = sum(state[name].double() * weight for state, weight in zip(states, weights))
            averaged[name] = total.to(first.dtype).contiguous()
        else:
            averaged[name] = first.clone()
    return averaged


def average_models(out: str | Path, models: list[str], weights: list[float] | None = None) -> Path:
    """Write the weighted mean of ``models`` (model folders) into the new folder ``out`` (see the module
    docstring); ``weights`` default to equal ones and are normalised to sum to 1. Raises an FkpError
    naming the model and what differs when the models do not share one network."""
    from safetensors.torch import load_file, save_file

    from .errors import FkpError
    from .runtime import weights_digest
    from .training_args import training_command

    if len(models) < 2:
        raise FkpError("give at least two models to average")
    weights = [1.0] * len(models) if weights is None else [float(w) for w in weights]
    if len(weights) != len(models):
        raise FkpError(f"--weights: give one per model ({len(models)}), not {len(weights)}")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise FkpError(f"--weights: each must be a finite number, 0 or more, and not all 0; got {weights}")
    weights = [w / sum(weights) for w in weights]
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FkpError(f"{out}: exists and is not an empty folder; choose a new one")

    folders, configs = zip(*(_model_folder(m) for m in models))
    network = {key: value for key, value in configs[0].items() if key not in OFFSET_KEYS}
    for model, config in zip(models[1:], configs[1:]):
        other = {key: value for key, value in config.items() if key not in OFFSET_KEYS}
        if other != network:
            keys = sorted(k for k in set(network) | set(other) if network.get(k) != other.get(k))
            raise FkpError(
                f"{model}: another network than {models[0]}'s (config.json differs in {', '.join(keys)}); "
                "only models of one network can be averaged"
            )
    states = [load_file(str(folder / "model.safetensors")) for folder in folders]
    for model, state in zip(models[1:], states[1:]):
        if set(state) != set(states[0]) or any(state[k].shape != states[0][k].shape for k in state):
            raise FkpError(f"{model}: its tensors differ from {models[0]}'s; only one network's models can be averaged")

    record = {"models": []}
    for model, folder, weight in zip(models, folders, weights):
        entry = {"model": str(model), "weight": round(weight, 6), "sha256": weights_digest(folder)}
        args_path = folder / "training_args.json"
        if (folder / AVERAGE_RECORD).is_file():  # itself an average: its own record says what it is
            entry["training_command"] = f"an average (fkp average; see {folder / AVERAGE_RECORD})"
        elif args_path.is_file():
            try:
                entry["training_command"] = training_command(json.loads(args_path.read_text()))
            except (ValueError, AttributeError, TypeError) as error:
                raise FkpError(f"{args_path}: not a training record ({error})") from None
        record["models"].append(entry)

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))  # renamed into place when complete
    try:
        save_file(average_weights(states, weights), str(partial / "model.safetensors"), metadata={"format": "pt"})
        (partial / "config.json").write_text(json.dumps(network, indent=2) + "\n")
        for name in RECORDS:
            if (folders[0] / name).is_file():
                shutil.copy(folders[0] / name, partial / name)
        (partial / AVERAGE_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        for path in partial.iterdir():
            os.chmod(path, 0o644)
        os.chmod(partial, 0o755)  # mkdtemp's 0o700 would hide the folder from other users
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None, prog: str = "python -m fkp.average") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", help="the new model folder (must not exist, or be empty)")
    parser.add_argument(
        "models", nargs="+", help="two or more model folders of one network; the first one's records are kept"
    )
    parser.add_argument("--weights", type=float, nargs="+", default=None, help="one per model (default: equal)")
    args = parser.parse_args(argv)
    out = average_models(args.out, args.models, args.weights)
    print(
        f"wrote {out}: the mean of {len(args.models)} models' weights; next, measure its keypoint offsets: "
        f"fkp calibrate keypoints --model {out}"
    )
    return 0


if __name__ == "__main__":
    from .errors import run_cli

    raise SystemExit(run_cli(main, prog="python -m fkp.average"))
