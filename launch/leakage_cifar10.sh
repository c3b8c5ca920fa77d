#!/usr/bin/env bash
# Training-free leakage per classifier and per release format (results/leakage/): the nearest-logits
# and class-mean baselines on the first 1000 CIFAR-10 test images, the neighbours searched among the
# training split's released vectors (what an attacker of an API holds), for every format of
# data/release.py. Builds a classifier's logits dataset first if it is missing.
#
# Usage: launch/leakage_cifar10.sh NAME=CLASSIFIER_DIR [NAME=CLASSIFIER_DIR ...]
#   e.g. resnet20=pretrained/cifar10/resnet20 resnet4b=pretrained/cifar10/resnet4b
# Variables: ROOT [workdirs/leakage], DATA_DIR [data_out], JUDGES [workdirs/judges] (ResNet-56, converted
#   by launch/evaluate_cifar10.sh), SOURCE [the CIFAR-10 tarball in ../shared],
#   FORMATS [full,softmax,topk:5,top1,rounded:2,rounded:1], NUM_EXAMPLES [1000].
# Judges: ResNet-56 names the class (identifiability); the robust ResNet-2B's features rank the
# originals (retrieval), except for phi = ResNet-2B itself, where ResNet-4B's do.
set -euo pipefail
ROOT=${ROOT:-workdirs/leakage}
DATA_DIR=${DATA_DIR:-data_out}
JUDGES=${JUDGES:-workdirs/judges}
SOURCE=${SOURCE:-../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz}
FORMATS=${FORMATS:-full,softmax,topk:5,top1,rounded:2,rounded:1}
NUM_EXAMPLES=${NUM_EXAMPLES:-1000}
for pair in "$@"; do
  name=${pair%%=*} classifier=${pair#*=}
  [[ "${name}" != "${pair}" && -n "${classifier}" ]] || { echo "give NAME=CLASSIFIER_DIR, not ${pair}" >&2; exit 2; }
  dataset="cifar10_${name}"
  if [[ ! -d "${DATA_DIR}/logits_dataset/${dataset}" ]]; then
    python -m biglogit.data.make_logits --source="${SOURCE}" --classifier="${classifier}" \
        --data_dir="${DATA_DIR}" --name="${dataset}"
  fi
  features=pretrained/cifar10/resnet2b
  [[ "$(realpath "${classifier}")" != "$(realpath "${features}")" ]] || features=pretrained/cifar10/resnet4b
  python -m biglogit.baselines --kind=nearest_logits --dataset="${dataset}" --data_dir="${DATA_DIR}" \
      --release="${FORMATS}" --num_examples="${NUM_EXAMPLES}" --identifier="${JUDGES}/resnet56" \
      --robust_features="${features}" --out="${ROOT}/${name}/nearest_logits"
  python -m biglogit.baselines --kind=class_mean --dataset="${dataset}" --data_dir="${DATA_DIR}" \
      --num_examples="${NUM_EXAMPLES}" --identifier="${JUDGES}/resnet56" \
      --robust_features="${features}" --out="${ROOT}/${name}/class_mean"
done
