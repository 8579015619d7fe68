"""Train fkp's stacked hourglass with Hugging Face Accelerate (CPU, one GPU, many GPUs or nodes).

    accelerate launch train.py --dataset ../shared/data/ytf68 --label_x_shift -1.3 --output_dir runs/fkp
    accelerate launch train.py --dataset training.zip --output_dir runs/kaggle   # Kaggle's own data

The code lives in `fkp.train`, so an installed fkp trains the same way with
``accelerate launch -m fkp.train ...`` (what hosted training on Hugging Face Jobs runs).
"""

from fkp.train import main, parse_args

if __name__ == "__main__":
    main(parse_args())
