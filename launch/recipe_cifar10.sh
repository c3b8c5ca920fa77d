#!/usr/bin/env bash
# Choosing the long CPU runs' recipe (results/recipe/): inverters on ResNet-4B's logits that differ
# from cpu_long in one setting each, every one given the same hours of training on the idle machine
# (train.budget_hours: training time, without compilation and evaluations), evaluated halfway and at
# the end on 1000 held-out test images beside the trivial baselines. One after the other: two at once
# halve each, and nothing else may run beside them (a test run would take training time from one).
#
# Usage: launch/recipe_cifar10.sh [CANDIDATE ...]     (default: all, in this order)
#   ch8           cpu_long itself: ch 8, batch 32, 1 D step, no augmentation
#   ch16  ch32    wider G and D
#   ch16_b64      ch16 at batch 64
#   ch16_d2       ch16 with 2 D steps per G step
#   ch16_diffaug  ch16 with DiffAugment (translation,cutout) on every image D sees
# Variables: BUDGET [0.1667 hours each], PHI [resnet4b], ROOT [workdirs/recipe], DATA_DIR [data_out],
#   JUDGES [workdirs/judges] (launch/evaluate_cifar10.sh converts the ResNet-56 judge into JUDGES/resnet56).
# Then: python -m biglogit.report.recipe ROOT --out=results/recipe
set -euo pipefail
source "$(dirname "$0")/stop_between_runs.sh"  # Ctrl-C stops after the run in flight saves
BUDGET=${BUDGET:-0.1667}
PHI=${PHI:-resnet4b}
ROOT=${ROOT:-workdirs/recipe}
DATA_DIR=${DATA_DIR:-data_out}
JUDGES=${JUDGES:-workdirs/judges}
ALL=(ch8 ch16 ch32 ch16_b64 ch16_d2 ch16_diffaug)
(( $# )) || set -- "${ALL[@]}"
for name in "$@"; do
  case "${name}" in
    ch8) extra=() ;;
    ch16) extra=(--config.model.ch_g=16 --config.model.ch_d=16) ;;
    ch32) extra=(--config.model.ch_g=32 --config.model.ch_d=32) ;;
    ch16_b64) extra=(--config.model.ch_g=16 --config.model.ch_d=16 --config.train.global_batch=64) ;;
    ch16_d2) extra=(--config.model.ch_g=16 --config.model.ch_d=16 --config.train.d_steps=2) ;;
    ch16_diffaug) extra=(--config.model.ch_g=16 --config.model.ch_d=16 --config.train.diff_augment=translation,cutout) ;;
    *) echo "unknown candidate ${name}; one of: ${ALL[*]}" >&2; exit 2 ;;
  esac
  python -m biglogit.main --config="configs/cifar10.py:${PHI},cpu_long" --workdir="${ROOT}/${name}" \
      --config.data.data_dir="${DATA_DIR}" --config.eval.identifier="${JUDGES}/resnet56" \
      --config.eval.fid_extractor="classifier:${JUDGES}/resnet56" \
      --config.train.num_steps=1000000 --config.train.budget_hours="${BUDGET}" \
      --config.eval.every=0 --config.eval.every_hours="$(python3 -c "print(${BUDGET} / 2)")" \
      --config.eval.at_end=True "${extra[@]}"
  stop_if_asked "${ROOT}/${name}"
done
