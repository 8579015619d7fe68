"""Hosted training on Hugging Face Jobs: one command from a Hub dataset to a trained model on the
Hub, optionally served by your Space.

    fkp convert ../shared/data/ytf68 data/ytf68.parquet --label-x-shift -1.3 --push-to-hub USER/fkp-ytf68
    fkp jobs train --dataset USER/fkp-ytf68 --hub-model-id USER/fkp-model --space USER/fkp \\
        --flavor a10g-largex2 --timeout 2h --dry-run          # print the job spec, no network
    fkp jobs train ... (without --dry-run)                     # submit; follow with `hf jobs logs ID`

The job runs in a public PyTorch CUDA image: it installs fkp from your Space's git repository (or
--source), runs ``accelerate launch -m fkp.train`` on every GPU of the flavour (``xN`` flavours
have N GPUs; cpu-* flavours train on the CPU), pushes the exported model folder (weights, config,
model card, learning curve, metrics) to --hub-model-id and, with --space, sets the Space's
FKP_MODEL variable to it so the demo serves the new model. Your Hugging Face token is passed as the
secret HF_TOKEN (never printed). Extra arguments after ``--`` go to train.py.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex

DEFAULT_IMAGE = "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel"
DEFAULT_FLAVOR = "a10g-small"
OUTPUT_DIR = "/tmp/fkp-run"


def gpus_of(flavor: str) -> int:
    """GPUs of a Jobs hardware flavour: 0 for cpu-*, N for '...xN' (a10g-largex2, l4x4, h100x8), else 1."""
    if flavor.startswith("cpu"):
        return 0
    match = re.search(r"x(\d+)$", flavor)
    return int(match.group(1)) if match else 1


def job_spec(args: argparse.Namespace, train_args: list[str]) -> dict:
    """The job as keyword arguments of `huggingface_hub.run_job` (secrets as names only)."""
    gpus = gpus_of(args.flavor)
    source = args.source or (f"git+https://huggingface.co/spaces/{args.space}" if args.space else None)
    if not source:
        raise SystemExit(
            "fkp jobs train: give --space USER/SPACE "
            "(the code is installed from its git repository) or --source PIP_SPEC"
        )
    launch = [
        "accelerate",
        "launch",
        "--num_machines",
        "1",
        "--mixed_precision",
        args.mixed_precision,
        "--dynamo_backend",
        "no",
    ]
    if gpus == 0:
        launch += ["--cpu", "--num_processes", "1"]
    elif gpus == 1:
        launch += ["--num_processes", "1"]
    else:
        launch += ["--multi_gpu", "--num_processes", str(gpus)]
    train = [
        *launch,
        "-m",
        "fkp.train",
        "--dataset",
        args.dataset,
        "--output_dir",
        OUTPUT_DIR,
        "--push_to_hub",
        "--hub_model_id",
        args.hub_model_id,
        *train_args,
    ]
    steps = [
        "set -euo pipefail",
        "command -v git >/dev/null || (apt-get update -qq && apt-get install -y -qq git >/dev/null)",
        shlex.join(["pip", "install", "--no-cache-dir", f"fkp @ {source}"]),
        shlex.join(train),
    ]
    if args.space:
        steps.append(
            shlex.join(
                [
                    "python",
                    "-c",
                    "import sys; from huggingface_hub import HfApi; "
                    "HfApi().add_space_variable(sys.argv[1], 'FKP_MODEL', sys.argv[2]); "
                    "print('Space', sys.argv[1], 'now serves', sys.argv[2])",
                    args.space,
                    args.hub_model_id,
                ]
            )
        )
    return {
        "image": args.image,
        "command": ["bash", "-c", "\n".join(steps)],
        "env": {"PYTHONUNBUFFERED": "1", "HF_HUB_ENABLE_HF_TRANSFER": "0"},
        "secrets": ["HF_TOKEN"],
        "flavor": args.flavor,
        "timeout": args.timeout,
        "labels": {"app": "fkp", "task": "train"},
    }


def main(argv: list[str] | None = None, prog: str = "python -m fkp.jobs") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train on Hugging Face GPUs and push the model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--dataset", required=True, help="Hub dataset id in fkp's schema (from `fkp convert ... --push-to-hub`)"
    )
    train.add_argument("--hub-model-id", required=True, help="model repository to push the trained model to")
    train.add_argument(
        "--space",
        default=None,
        help="your fkp Space: the code is installed from it, and its FKP_MODEL is set to the new model",
    )
    train.add_argument(
        "--source",
        default=None,
        help="pip requirement for fkp instead of the Space (e.g. git+https://github.com/you/fkp)",
    )
    train.add_argument(
        "--flavor",
        default=DEFAULT_FLAVOR,
        help="Jobs hardware, e.g. t4-small, a10g-small, a10g-largex2, l4x4, a100-large, h100x8, cpu-upgrade",
    )
    train.add_argument("--timeout", default="2h", help="maximum run time, e.g. 90m, 2h")
    train.add_argument("--image", default=DEFAULT_IMAGE, help="Docker image with CUDA PyTorch")
    train.add_argument(
        "--mixed-precision",
        default="bf16",
        choices=["no", "fp16", "bf16"],
        help="bf16 on A10G/L4/A100/H100; fp16 on T4",
    )
    train.add_argument("--namespace", default=None, help="run the job under this organisation")
    train.add_argument("--dry-run", action="store_true", help="print the job spec and exit, without any network call")
    argv, train_args = _split_extra(argv)
    args = parser.parse_args(argv)

    spec = job_spec(args, train_args)
    if args.dry_run:
        print(json.dumps({"run_job": spec, "namespace": args.namespace}, indent=2))
        return 0
    from huggingface_hub import get_token, run_job

    token = get_token()
    if not token:
        raise SystemExit("fkp jobs train: not logged in to Hugging Face (run `hf auth login` or set HF_TOKEN)")
    job = run_job(**{**spec, "secrets": {"HF_TOKEN": token}}, namespace=args.namespace)
    print(f"submitted job {job.id}: {job.url}\nfollow it with: hf jobs logs {job.id}")
    return 0


def _split_extra(argv: list[str] | None) -> tuple[list[str] | None, list[str]]:
    """Arguments before ``--`` are fkp's; those after it go to train.py."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


if __name__ == "__main__":
    raise SystemExit(main())
