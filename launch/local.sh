#!/usr/bin/env bash
# One host, all its local devices (GPUs, TPU chips, or CPU), one process.
#
# Usage: launch/local.sh [--dry_run] [extra biglogit.main flags]
#
# Variables (environment; defaults in brackets):
#   CONFIG    config file                     [configs/tiny.py]
#   WORKDIR   checkpoints + logs; resumed     [workdirs/<config name>]
#   DATASET   overrides config.data.dataset   [the config's]
# Rerunning the same command after a crash or Ctrl-C resumes from the newest checkpoint.
set -euo pipefail

DRY_RUN=0
if [[ "${1:-}" == "--dry_run" ]]; then DRY_RUN=1; shift; fi
CONFIG=${CONFIG:-configs/tiny.py}
NAME=$(basename "${CONFIG}" .py)
WORKDIR=${WORKDIR:-workdirs/${NAME}}
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

CMD=(python -m biglogit.main "--config=${CONFIG}" "--workdir=${WORKDIR}")
if [[ -n "${DATASET:-}" ]]; then CMD+=("--config.data.dataset=${DATASET}"); fi
CMD+=("$@")
echo "+ ${CMD[*]}"
if [[ ${DRY_RUN} == 0 ]]; then
  cd "${REPO_ROOT}"
  "${CMD[@]}"
fi
