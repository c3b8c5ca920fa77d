#!/usr/bin/env bash
# The inference-time levers (biglogit/inference.py) on released CIFAR-10 inverters, no retraining:
# every row of results/fidelity/. One evaluation per (release, row) on the first N test images with the
# project's judges, written to OUTROOT/<release>/<row>/eval; a finished row is kept (rerun = resume).
# The trivial baselines are scored once per release, in its `plain` row.
#
# Usage: launch/fidelity_cifar10.sh RELEASE [RELEASE ...]     (folders under pretrained/cifar10/)
# Variables (environment; defaults in brackets):
#   ROWS      rows to run, by name (see row_flags below)      [plain t0 t0.5 t1 k4 k16 r20 k16_r20]
#   N         held-out test images                            [1000]
#   DATA_DIR  the logits datasets (make_logits)               [data_out]
#   JUDGES    converted judging classifiers                   [workdirs/judges]
#   OUTROOT   evaluation outputs                              [workdirs/fidelity]
# Cost on 2 idle CPU cores (Intel Xeon), reconstruction alone: best_of=K about 2.5-3 ms per image and draw,
# refine_steps=S 8.5 ms (phi ResNet-4B) to 17 ms (ResNet-20) per image and step (launch/fidelity_cost.py,
# docs/performance.md); each row adds about 25 s of judging, the plain row 1.5 min with the baselines.
# The report: python -m biglogit.report.fidelity --root=OUTROOT --out=results/fidelity
set -euo pipefail
ROWS=${ROWS:-plain t0 t0.5 t1 k4 k16 r20 k16_r20}
N=${N:-1000}
DATA_DIR=${DATA_DIR:-data_out}
JUDGES=${JUDGES:-workdirs/judges}
OUTROOT=${OUTROOT:-workdirs/fidelity}
# Refinement's lr and prior weight were chosen on test images 1000-1249, which no row scores
# (python launch/fidelity_tuning.py RELEASE --n=250 --steps=20).
REFINE="--refine_lr=0.2 --refine_prior=1.0"

row_flags() {  # the lever flags of a row; rows whose levers cost more than a few draws skip noise_std
  case "$1" in
    plain)   echo "" ;;
    t0)      echo "--truncation=0 --noise_samples=0" ;;  # eps = 0: one image per z, no noise to measure
    t0.5)    echo "--truncation=0.5" ;;
    t1)      echo "--truncation=1" ;;
    k4)      echo "--best_of=4 --noise_samples=0" ;;
    k16)     echo "--best_of=16 --noise_samples=0" ;;
    k64)     echo "--best_of=64 --noise_samples=0" ;;
    k256)    echo "--best_of=256 --noise_samples=0" ;;
    r20)     echo "--refine_steps=20 ${REFINE} --noise_samples=0" ;;
    r100)    echo "--refine_steps=100 ${REFINE} --noise_samples=0" ;;
    r20o)    echo "--refine_steps=20 ${REFINE} --refine_offset --noise_samples=0" ;;
    k16_r20) echo "--best_of=16 --refine_steps=20 ${REFINE} --noise_samples=0" ;;
    t1_k16)  echo "--truncation=1 --best_of=16 --noise_samples=0" ;;
    t1_k64)  echo "--truncation=1 --best_of=64 --noise_samples=0" ;;
    t0.75_k64) echo "--truncation=0.75 --best_of=64 --noise_samples=0" ;;
    t1.5_k64) echo "--truncation=1.5 --best_of=64 --noise_samples=0" ;;
    t1.5_k256) echo "--truncation=1.5 --best_of=256 --noise_samples=0" ;;
    t0.5_k16) echo "--truncation=0.5 --best_of=16 --noise_samples=0" ;;
    k64_r20) echo "--best_of=64 --refine_steps=20 ${REFINE} --noise_samples=0" ;;
    t1_k16_r20) echo "--truncation=1 --best_of=16 --refine_steps=20 ${REFINE} --noise_samples=0" ;;
    *) echo "unknown row $1; see row_flags in $0" >&2; return 2 ;;
  esac
}

[[ -f "${JUDGES}/resnet56/classifier.json" ]] || python -m biglogit.convert --arch=cifar_resnet56 \
    --checkpoint=../shared/weights/cifar10/akamaster/resnet56-4bfd9763.th --out="${JUDGES}/resnet56"
for release in "$@"; do
  name=$(basename "${release%/}")
  for row in ${ROWS}; do
    flags=$(row_flags "${row}")
    out="${OUTROOT}/${name}/${row}/eval"
    [[ -f "${out}/metrics.json" ]] && continue
    baselines="--baselines="
    [[ "${row}" == plain ]] && baselines=""
    echo "$(date +%T) ${name} ${row}: ${flags}"
    # shellcheck disable=SC2086
    python -m biglogit.evaluate --workdir="${release}" --data_dir="${DATA_DIR}" --num_examples="${N}" \
        --identifier="${JUDGES}/resnet56" --robust_features=pretrained/cifar10/resnet2b \
        --fid_extractor="classifier:${JUDGES}/resnet56" ${baselines} ${flags} --out="${out}" > /dev/null
  done
done
