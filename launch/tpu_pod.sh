#!/usr/bin/env bash
# Train on a Cloud TPU VM pod slice: create (or reuse) the slice, copy this checkout to every worker,
# install it, and run biglogit.main on all workers at once; logs of all workers stream here.
#
# Usage: launch/tpu_pod.sh [--dry_run] [extra biglogit.main flags, e.g. --config.train.num_steps=1000]
#
# Variables (environment; defaults in brackets):
#   TPU_NAME      name of the TPU VM slice                              [biglogit]
#   ZONE          GCP zone                                              [us-central2-b]
#   ACCELERATOR   slice type; the global batch must divide by its chips [v4-32]
#   TPU_VERSION   TPU VM software version                               [tpu-ubuntu2204-base]
#   PROJECT       GCP project                                           [gcloud's default]
#   SPOT          1: create a spot (preemptible) slice                  [1]
#   CONFIG        config file, relative to the repository root          [configs/robust_r152.py]
#   WORKDIR       checkpoints + logs; gs:// so that a recreated slice resumes [required unless --dry_run]
#   DATA_DIR      where the logits datasets are (gs:// or a path present on every worker) [""]
# Preemption: a spot slice is deleted on preemption. Rerun this script with the same WORKDIR: it
# recreates the slice and biglogit.main resumes from the newest checkpoint in WORKDIR. On a SIGTERM
# warning the trainer checkpoints the current step and exits 0.
# JAX finds the other workers by itself on TPU VMs (jax.distributed.initialize() auto-detects).
set -euo pipefail

DRY_RUN=0
if [[ "${1:-}" == "--dry_run" ]]; then DRY_RUN=1; shift; fi
TPU_NAME=${TPU_NAME:-biglogit}
ZONE=${ZONE:-us-central2-b}
ACCELERATOR=${ACCELERATOR:-v4-32}
TPU_VERSION=${TPU_VERSION:-tpu-ubuntu2204-base}
SPOT=${SPOT:-1}
CONFIG=${CONFIG:-configs/robust_r152.py}
WORKDIR=${WORKDIR:-}
DATA_DIR=${DATA_DIR:-}
PROJECT_FLAG=${PROJECT:+--project=${PROJECT}}
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -z "${WORKDIR}" ]]; then
  if [[ ${DRY_RUN} == 1 ]]; then WORKDIR="gs://BUCKET/biglogit/run"; else
    echo "error: set WORKDIR (a gs:// path, so that a recreated slice resumes)" >&2; exit 2; fi
fi

run() {  # print, and execute unless --dry_run
  echo "+ $*"
  if [[ ${DRY_RUN} == 0 ]]; then "$@"; fi
}

tpu() { run gcloud compute tpus tpu-vm "$@" --zone="${ZONE}" ${PROJECT_FLAG}; }

# 1. The slice: reuse it if it exists, else create it.
if [[ ${DRY_RUN} == 0 ]] && gcloud compute tpus tpu-vm describe "${TPU_NAME}" --zone="${ZONE}" ${PROJECT_FLAG} >/dev/null 2>&1; then
  echo "reusing TPU VM ${TPU_NAME}"
else
  tpu create "${TPU_NAME}" --accelerator-type="${ACCELERATOR}" --version="${TPU_VERSION}" \
      $([[ ${SPOT} == 1 ]] && echo --spot)
fi

# 2. This checkout (code only, no data or workdirs) to every worker.
ARCHIVE=/tmp/biglogit_code.tgz
run tar czf "${ARCHIVE}" -C "${REPO_ROOT}" --exclude=.git --exclude=workdirs --exclude=data_out \
    --exclude=.pytest_cache --exclude=.carry setup.py README.md biglogit configs launch
tpu scp "${ARCHIVE}" "${TPU_NAME}:biglogit_code.tgz" --worker=all

# 3. Install on every worker (jax[tpu] from its own index; the tf extra reads gs:// for TFDS).
tpu ssh "${TPU_NAME}" --worker=all --command="mkdir -p biglogit && tar xzf biglogit_code.tgz -C biglogit && \
pip install -q -e 'biglogit[tf]' 'jax[tpu]' -f https://storage.googleapis.com/jax-releases/libtpu_releases.html"

# 4. Train on all workers at once; gcloud streams every worker's output here.
EXTRA="$*"
tpu ssh "${TPU_NAME}" --worker=all --command="cd biglogit && python -m biglogit.main --config=${CONFIG} \
--workdir=${WORKDIR} ${DATA_DIR:+--config.data.data_dir=${DATA_DIR}} ${EXTRA}"
