#!/usr/bin/env bash
# The conditioning measurements (results/conditioning/): cpu_long inverters (4000 steps, ch 8) that
# differ only in what G and D are fed of the logits, one after the other (two at once halve each).
# Each run logs D's two terms apart (d_{real,fake}_{w1,w2z} in metrics.jsonl) and evaluates every
# 1000 steps on 1000 held-out test images with the ResNet-56 judge and the stand-in FD extractor.
#
# Usage: launch/conditioning_cifar10.sh RUN [RUN ...]    RUN one of:
#   resnet4b_standardize  resnet4b_top1_standardize  resnet20_standardize   (the releases)
#   resnet4b_unit_norm                                                     (the alternative)
#   resnet4b_none  resnet4b_top1_none  resnet20_none                       (the cause: raw logits)
#   resnet4b_consistency_0.1  resnet4b_consistency_1   (standardize + lambda, train.consistency_weight)
# Variables: ROOT [workdirs/conditioning], DATA_DIR [data_out], JUDGES [workdirs/judges],
#   EVAL [1]: 0 skips the periodic and final evaluations (the cause runs need only D's logged terms;
#   the raw-logit releases they repeat were evaluated on results/cifar10/).
# (launch/evaluate_cifar10.sh converts the ResNet-56 judge into JUDGES/resnet56).
set -euo pipefail
source "$(dirname "$0")/stop_between_runs.sh"  # Ctrl-C stops after the run in flight saves
ROOT=${ROOT:-workdirs/conditioning}
DATA_DIR=${DATA_DIR:-data_out}
JUDGES=${JUDGES:-workdirs/judges}
EVAL=${EVAL:-1}
for run in "$@"; do
  phi=${run%%_*} rest=${run#*_} extra=()
  [[ "${EVAL}" == 1 ]] || extra+=(--config.eval.every=0 --config.eval.at_end=False)
  if [[ "${rest}" == top1_* ]]; then extra+=(--config.release.kind=top1); rest=${rest#top1_}; fi
  case "${rest}" in
    standardize|unit_norm|none) extra+=(--config.conditioning.normalize="${rest}") ;;
    consistency_*) extra+=(--config.train.consistency_weight="${rest#consistency_}") ;;
    *) echo "unknown run ${run}; see the usage at the top of $0" >&2; exit 2 ;;
  esac
  python -m biglogit.main --config="configs/cifar10.py:${phi},cpu_long" --workdir="${ROOT}/${run}" \
      --config.data.data_dir="${DATA_DIR}" --config.eval.identifier="${JUDGES}/resnet56" \
      --config.eval.fid_extractor="classifier:${JUDGES}/resnet56" "${extra[@]}"
  stop_if_asked "${ROOT}/${run}"
done
