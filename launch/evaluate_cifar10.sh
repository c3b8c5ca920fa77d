#!/usr/bin/env bash
# Evaluate trained CIFAR-10 inverters beside the trivial baselines, run every experiment, the
# optimisation baseline and the report, and export the EMA generators: what results/cifar10/ and
# pretrained/cifar10/ are made of. ROBUST/STANDARD/DEEPSIM may be training workdirs or exports
# (pretrained/cifar10/*): every output goes under OUTROOT/<name>/, never into them.
#
# Usage: launch/evaluate_cifar10.sh
# Variables (environment; defaults in brackets):
#   ROBUST      GAN workdir on ResNet-4B logits     [workdirs/cpu_resnet4b]
#   STANDARD    GAN workdir on ResNet-20 logits     [workdirs/cpu_resnet20]
#   DEEPSIM     DeePSiM workdir on ResNet-4B logits [workdirs/cpu_resnet4b_deepsim]
#   CONTROL     the robust GAN's label-only control (release top1), evaluated and exported too [none]
#   CURVES      1: a learning-curve figure from the training workdirs' periodic evaluations [0]
#   EXPERIMENTS 0: skip the six experiments per GAN (noise ... ood) [1]
#   SHARED      the shared data folder              [../shared]
#   DATA_DIR    where the logits datasets are       [data_out]
#   JUDGES      converted judging classifiers       [workdirs/judges]
#   N           held-out examples per evaluation    [1000]
#   N_OPT       examples for the optimisation baseline [500]
#   OPT_STEPS   its gradient steps                  [200]
#   OPT_FOR     classifiers the optimisation baseline inverts; empty: none [resnet4b resnet20]
#   HARDWARE    for the model cards                 [2 CPU cores]
#   OUTROOT     evaluation and experiment outputs    [workdirs/results_cifar10]
#   EXPORT      1: export the three runs into pretrained/cifar10 (workdirs only) [1]
#   RESULTS     report folder                       [results/cifar10]
#   INTRO       markdown file of findings placed under the report title [none]
# results/cifar10/ was made from the releases with OPT_FOR= EXPERIMENTS=0 EXPORT=0
# ROBUST=pretrained/cifar10/resnet4b_gan STANDARD=pretrained/cifar10/resnet20_gan
# CONTROL=pretrained/cifar10/resnet4b_gan_top1 DEEPSIM=pretrained/cifar10/resnet4b_deepsim_gpu, the
# experiments run per release, and the report with the GPU releases' rows and the runs/cifar10 curves
# added (results/cifar10/findings.md lists each command; earlier pages: OPT_FOR=resnet4b; the
# ResNet-20 optimisation took over 8 min on 2 CPU cores and was stopped).
set -euo pipefail
ROBUST=${ROBUST:-workdirs/cpu_resnet4b}
STANDARD=${STANDARD:-workdirs/cpu_resnet20}
DEEPSIM=${DEEPSIM:-workdirs/cpu_resnet4b_deepsim}
CONTROL=${CONTROL:-}
CURVES=${CURVES:-0}
EXPERIMENTS=${EXPERIMENTS:-1}
SHARED=${SHARED:-../shared}
DATA_DIR=${DATA_DIR:-data_out}
JUDGES=${JUDGES:-workdirs/judges}
N=${N:-1000}
N_OPT=${N_OPT:-500}
OPT_STEPS=${OPT_STEPS:-200}
OPT_FOR=${OPT_FOR-resnet4b resnet20}  # empty: skip the optimisation baseline
HARDWARE=${HARDWARE:-2 CPU cores}
RESULTS=${RESULTS:-results/cifar10}
OUTROOT=${OUTROOT:-workdirs/results_cifar10}
EXPORT=${EXPORT:-1}
W="${SHARED}/weights/cifar10"

# Judges independent of both inverted classifiers: ResNet-56 (standard) for identifiability and as
# the stand-in FID extractor, the released ResNet-2B (robust) for the feature distance and retrieval.
[[ -f "${JUDGES}/resnet56/classifier.json" ]] || python -m biglogit.convert --arch=cifar_resnet56 \
    --checkpoint="${W}/akamaster/resnet56-4bfd9763.th" --out="${JUDGES}/resnet56"
JUDGE_FLAGS=(--identifier="${JUDGES}/resnet56" --robust_features=pretrained/cifar10/resnet2b
             --fid_extractor="classifier:${JUDGES}/resnet56" --num_examples="${N}")
name_of() { basename "${1%/}"; }

# The trivial baselines as runs of their own (rows of the report), on each classifier's dataset.
BASELINE_RUNS=()
for clf in resnet4b resnet20; do
  for kind in constant mean class_mean nearest_logits; do
    # A finished baseline run is kept: it depends only on the data, the judges and N.
    [[ -f "${OUTROOT}/baseline_${clf}_${kind}/eval/metrics.json" ]] || python -m biglogit.baselines \
        --kind="${kind}" --dataset="cifar10_${clf}" --data_dir="${DATA_DIR}" \
        --out="${OUTROOT}/baseline_${clf}_${kind}" "${JUDGE_FLAGS[@]}"
    BASELINE_RUNS+=("${OUTROOT}/baseline_${clf}_${kind}")
  done
done
for run in "${ROBUST}" "${STANDARD}" "${DEEPSIM}" ${CONTROL:+"${CONTROL}"}; do
  python -m biglogit.evaluate --workdir="${run}" --data_dir="${DATA_DIR}" "${JUDGE_FLAGS[@]}" \
      --out="${OUTROOT}/$(name_of "${run}")/eval"
done
for name in ${OPT_FOR}; do
  python -m biglogit.experiments.optimize --classifier="pretrained/cifar10/${name}" \
      --dataset="cifar10_${name}" --data_dir="${DATA_DIR}" --out="workdirs/optimize_${name}" \
      --num_examples="${N_OPT}" --steps="${OPT_STEPS}" --identifier="${JUDGES}/resnet56" --robust_features=pretrained/cifar10/resnet2b \
      --fid_extractor="classifier:${JUDGES}/resnet56"
done
python -m biglogit.experiments.grid --workdir="${ROBUST}" --workdir="${DEEPSIM}" ${CONTROL:+--workdir="${CONTROL}"} \
    --workdir="${STANDARD}" \
    --out="${OUTROOT}/$(name_of "${ROBUST}")/experiments/grid"
for run in $([[ "${EXPERIMENTS}" == 1 ]] && echo "${ROBUST}" "${STANDARD}"); do
  for exp in noise misclassified adversarial logit_edits invariance; do
    python -m biglogit.experiments.${exp} --workdir="${run}" --out="${OUTROOT}/$(name_of "${run}")/experiments/${exp}"
  done
  python -m biglogit.experiments.ood --workdir="${run}" --source=skimage \
      --source="${SHARED}/data/tiny-imagenet-200-val/tiny_imagenet_200_val.tar.gz" \
      --out="${OUTROOT}/$(name_of "${run}")/experiments/ood"
done
python -m biglogit.report "${OUTROOT}/$(name_of "${ROBUST}")" "${OUTROOT}/$(name_of "${STANDARD}")" \
    "${OUTROOT}/$(name_of "${DEEPSIM}")" ${CONTROL:+"${OUTROOT}/$(name_of "${CONTROL}")"} $(for name in ${OPT_FOR}; do echo "workdirs/optimize_${name}"; done) \
    "${BASELINE_RUNS[@]}" --out="${RESULTS}" --title="CIFAR-10: robust vs standard logits" \
    ${INTRO:+--intro="${INTRO}"} \
    $([[ "${CURVES}" == 1 ]] && echo "--learning_curve=${ROBUST},${CONTROL:+${CONTROL},}${STANDARD}")
if [[ "${EXPORT}" == 1 ]]; then
  for pair in "${ROBUST}:resnet4b_gan" "${STANDARD}:resnet20_gan" "${DEEPSIM}:resnet4b_deepsim" \
              ${CONTROL:+"${CONTROL}:resnet4b_gan_top1"}; do
    run=${pair%%:*} name=${pair##*:}
    [[ -f "${run}/release.json" ]] && continue  # already an export (it may be the target itself)
    rm -rf "pretrained/cifar10/${name}"
    python -m biglogit.export --workdir="${run}" --out="pretrained/cifar10/${name}" --hardware="${HARDWARE}"
  done
fi
