#!/usr/bin/env bash
# CIFAR-10 inverters at one SCALE of configs/cifar10.py, one after the other (two at once halve each),
# each evaluated every eval.every steps on 1000 held-out test images beside the trivial baselines,
# with the ResNet-56 judge (identifiability) and the stand-in FD extractor.
#
# Usage: launch/inverters_cifar10.sh PHI[:top1] [PHI[:top1] ...]
#   PHI is a classifier of configs/cifar10.py (resnet4b, resnet20, resnet20_trained_standard,
#   resnet20_trained_robust, inception_trained_standard, inception_trained_robust); ":top1" trains its
#   label-only control (release.kind=top1).
#   Each run's workdir is ROOT/PHI (ROOT/PHI_top1); rerunning the command resumes a stopped run.
# Variables: SCALE [cpu_long], ROOT [workdirs/inverters], DATA_DIR [data_out], JUDGES [workdirs/judges],
#   SHARED [../shared] (the ResNet-56 judge is converted into JUDGES/resnet56 from there if missing),
#   FLAGS [none]: more flags for every run, e.g. FLAGS="--config.train.budget_hours=8" or
#   FLAGS=--allow_changed_resume.
# The pair's rows of results/leakage/README.md: launch/inverters_cifar10.sh resnet20_trained_standard
#   resnet20_trained_robust
# The long CPU programme (results/long/README.md): SCALE=cpu_hours ROOT=runs/cifar10
#   launch/inverters_cifar10.sh resnet4b resnet20 resnet4b:top1 resnet20_trained_robust resnet20_trained_standard
#   (each run ends at its time budget; stopped earlier, it checkpoints, and the same command resumes it).
# The architecture 2x2's Inception inverters (results/leakage/README.md, read at 1 h): SCALE=cpu_hours
#   ROOT=runs/cifar10 launch/inverters_cifar10.sh inception_trained_standard inception_trained_robust
set -euo pipefail
source "$(dirname "$0")/stop_between_runs.sh"  # Ctrl-C stops after the run in flight saves
SCALE=${SCALE:-cpu_long}
ROOT=${ROOT:-workdirs/inverters}
DATA_DIR=${DATA_DIR:-data_out}
JUDGES=${JUDGES:-workdirs/judges}
SHARED=${SHARED:-../shared}
read -r -a more <<< "${FLAGS:-}"
for run in "$@"; do  # every name checked before anything runs
  [[ "${run}" != *:* || "${run#*:}" == top1 ]] || { echo "unknown suffix in ${run}; use PHI or PHI:top1" >&2; exit 2; }
done
[[ -f "${JUDGES}/resnet56/classifier.json" ]] || python -m biglogit.convert --arch=cifar_resnet56 \
    --checkpoint="${SHARED}/weights/cifar10/akamaster/resnet56-4bfd9763.th" --out="${JUDGES}/resnet56"
for run in "$@"; do
  phi=${run%%:*} extra=() name=${run%%:*}
  if [[ "${run}" == *:top1 ]]; then
    extra+=(--config.release.kind=top1); name=${phi}_top1
  fi
  python -m biglogit.main --config="configs/cifar10.py:${phi},${SCALE}" --workdir="${ROOT}/${name}" \
      --config.data.data_dir="${DATA_DIR}" --config.eval.identifier="${JUDGES}/resnet56" \
      --config.eval.fid_extractor="classifier:${JUDGES}/resnet56" "${extra[@]}" "${more[@]}"
  stop_if_asked "${ROOT}/${name}"
done
