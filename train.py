"""Train fkp's stacked hourglass with Hugging Face Accelerate (CPU, one GPU, many GPUs or nodes).

    accelerate launch train.py --dataset ../shared/data/ytf68 --label_x_shift -1.3 --output_dir runs/fkp
    accelerate launch train.py --dataset training.zip --output_dir runs/kaggle   # Kaggle's own data

The code lives in `fkp.train`, so an installed fkp trains the same way with
``accelerate launch -m fkp.train ...`` (what hosted training on Hugging Face Jobs runs).
A user's error (bad data, a non-empty --output_dir, a checkpoint of another run) ends it with one
line and exit status 2; --debug shows the traceback.
"""

from fkp.train import cli, main, parse_args  # noqa: F401  (main and parse_args: for tests and scripts)

if __name__ == "__main__":
    raise SystemExit(cli())
