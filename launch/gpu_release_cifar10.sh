#!/usr/bin/env bash
# The CIFAR-10 release run, prepared for ONE call of the project's GPU machine (one H200, <= ~9 min):
# builds the logits datasets from the CIFAR-10 JPEG tarball through the converted classifiers in
# pretrained/cifar10/, trains the runs named in RUNS concurrently on the one GPU (default:
#   resnet20_gan       the GAN inverter of the standard akamaster ResNet-20,
#   resnet4b_gan       the GAN inverter of the adversarially trained VNN-COMP ResNet-4B,
#   resnet4b_deepsim   the Dosovitskiy & Brox (DeePSiM) baseline on ResNet-4B logits;
# any PHI_gan / PHI_deepsim with PHI a classifier of configs/cifar10.py works, e.g.
# resnet20_trained_robust_gan), each stopped by SIGTERM after BUDGET_S seconds of training (the
# trainer checkpoints and exits 0), then exports the EMA generators (bf16 parameters, about 9 MB each)
# and writes to $OUT one archive per run, <name>.tar.gz = runs/<name>/{config.json,metrics.jsonl,images/}
# + pretrained/<name>/, and logs.tar.gz, summary.json: the device tool brings back at most 8 files,
# 16 MiB each, two folders deep. Full training states stay on the machine (too large to bring back).
#
# Usage (device machine, repository root; wheels carried in .carry/wheels):
#   OUT=$OUT SHARED=.carry/shared bash launch/gpu_release_cifar10.sh
# (../shared does not travel to that machine: copy the CIFAR-10 tarball to
#  .carry/shared/data/cifar10-jpeg/ and the wheels to .carry/wheels, and carry .carry.)
# CPU dry run (this machine; tiny model, reuses finished datasets in data_out/, 150 s per run):
#   OUT=/tmp/gpu_dry CPU_DRY_RUN=1 DATA_DIR=data_out bash launch/gpu_release_cifar10.sh
#
# Variables (environment; defaults in brackets):
#   OUT          output folder brought back                             [required]
#   STAGE        where the outputs are gathered before archiving          [/tmp/biglogit_stage]
#   SHARED       the shared data folder                                  [../shared]
#   WHEELS       extra wheels to install (--no-index --no-deps)          [.carry/wheels]
#   DATA_DIR     where logits datasets are built / found                 [/tmp/biglogit_data]
#   STATE_DIR    full training states (not returned)                     [/tmp/biglogit_state]
#   RUNS         the runs, space-separated (PHI_gan or PHI_deepsim)      [resnet20_gan resnet4b_gan resnet4b_deepsim]
#   TRAIN_FLAGS  extra config overrides for every run, space-separated   []
#   BUDGET_S     training seconds per run (all runs concurrently)        [300]
#   MEM_FRACTION GPU memory share of each concurrent run                 [0.9 / number of runs]
#   CPU_DRY_RUN  1: tiny model and budget, for checking the script on CPU [0]
#   STANDING_BATCHES  batches for the releases' batch-norm statistics (export --standing_stats) [40]
set -euo pipefail

: "${OUT:?set OUT}"
SHARED=${SHARED:-../shared}
WHEELS=${WHEELS:-.carry/wheels}
DATA_DIR=${DATA_DIR:-/tmp/biglogit_data}
STATE_DIR=${STATE_DIR:-/tmp/biglogit_state}
RUNS=(${RUNS:-resnet20_gan resnet4b_gan resnet4b_deepsim})
read -r -a TRAIN_FLAGS <<< "${TRAIN_FLAGS:-}"
BUDGET_S=${BUDGET_S:-300}
MEM_FRACTION=${MEM_FRACTION:-$(python3 -c "print(round(0.9 / ${#RUNS[@]}, 3))")}
phi_of() { local name=$1; name=${name%_gan}; echo "${name%_deepsim}"; }
for name in "${RUNS[@]}"; do  # refuse a bad name before anything is built
  [[ "${name}" == *_gan || "${name}" == *_deepsim ]] || { echo "RUNS: ${name} is neither PHI_gan nor PHI_deepsim"; exit 2; }
  [[ -d "pretrained/cifar10/$(phi_of "${name}")" ]] || { echo "RUNS: ${name}: no classifier pretrained/cifar10/$(phi_of "${name}")"; exit 2; }
done
CPU_DRY_RUN=${CPU_DRY_RUN:-0}
STANDING_BATCHES=${STANDING_BATCHES:-40}
FINAL_OUT=${OUT}
OUT=${STAGE:-/tmp/biglogit_stage}
rm -rf "${OUT}"
TARBALL="${SHARED}/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz"
mkdir -p "${OUT}/logs" "${OUT}/runs" "${OUT}/pretrained" "${STATE_DIR}" "${FINAL_OUT}"
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "${OUT}/logs/script.log"; }
archive() {  # whatever happened, bring back the logs and each run's archive
  tar czf "${FINAL_OUT}/logs.tar.gz" -C "${OUT}" logs
  for run in "${OUT}"/runs/*/; do
    local name; name=$(basename "${run}")
    tar czf "${FINAL_OUT}/${name}.tar.gz" -C "${OUT}" "runs/${name}" \
        $( [[ -d "${OUT}/pretrained/${name}" ]] && echo "pretrained/${name}" )
  done
  [[ -f "${OUT}/summary.json" ]] && cp "${OUT}/summary.json" "${FINAL_OUT}/"
  true
}
trap archive EXIT

# 1. Packages the machine lacks, into a scratch folder on PYTHONPATH.
if [[ -d "${WHEELS}" ]] && ls "${WHEELS}"/*.whl >/dev/null 2>&1; then
  stamp "installing $(ls "${WHEELS}"/*.whl | wc -l) wheels"
  python3 -m pip install -q --no-index --no-deps --target /tmp/biglogit_site "${WHEELS}"/*.whl
  export PYTHONPATH="/tmp/biglogit_site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$(pwd):${PYTHONPATH:-}"

COMMON=(--config.data.data_dir="${DATA_DIR}" --config.train.num_steps=1000000
        --config.checkpoint_every=1000 --config.image_every=1000 --config.log_every=100)
DEEPSIM_SIZE=()
if [[ "${CPU_DRY_RUN}" == 1 ]]; then
  BUDGET_S=${BUDGET_S_DRY:-150}  # CPU compilation alone takes about a minute
  STANDING_BATCHES=2
  COMMON=(--config.data.data_dir="${DATA_DIR}" --config.train.num_steps=1000000
          --config.model.ch_g=4 --config.model.ch_d=4 --config.model.cond_hidden=16
          --config.train.global_batch=16 --config.checkpoint_every=20 --config.image_every=20
          --config.log_every=5)
  DEEPSIM_SIZE=(--config.deepsim.hidden=32)  # a deepsim.* setting on a GAN run is refused (unused)
else
  COMMON+=(--config.model.compute_dtype=bfloat16)
  export XLA_PYTHON_CLIENT_MEM_FRACTION=${MEM_FRACTION}
fi

# 2. Logits datasets (skipped when already complete), all at once.
stamp "building logits datasets"
PIDS=()
for phi in $(for name in "${RUNS[@]}"; do phi_of "${name}"; done | sort -u); do
  python3 -m biglogit.data.make_logits --source="${TARBALL}" --classifier="pretrained/cifar10/${phi}" \
      --data_dir="${DATA_DIR}" --name="cifar10_${phi}" > "${OUT}/logs/logits_${phi}.log" 2>&1 &
  PIDS+=($!)
done
for p in "${PIDS[@]}"; do wait "${p}"; done
stamp "datasets ready"

# 3. The three runs, concurrently, each stopped by SIGTERM after BUDGET_S seconds.
train() {  # name config extra-flags...
  local name=$1 config=$2; shift 2
  # timeout exits 124 when it had to send TERM: that is the planned stop, not a failure.
  timeout --signal=TERM --kill-after=90 "${BUDGET_S}" python3 -m biglogit.main --config="${config}" \
      --workdir="${STATE_DIR}/${name}" "${COMMON[@]}" "$@" > "${OUT}/logs/train_${name}.log" 2>&1 \
    || [[ $? == 124 ]]
}
stamp "training ${RUNS[*]} for ${BUDGET_S}s each"
if command -v nvidia-smi >/dev/null; then  # the GPU's and the host's use while the runs share it
  (while sleep 30; do
     echo "$(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader) load $(cut -d' ' -f1-3 /proc/loadavg)"
     ps -eo pcpu=,rss=,args= | grep '[b]iglogit' | cut -c1-120
   done) > "${OUT}/logs/gpu_use.log" 2>&1 &
  GPU_LOG=$!
fi
TRAINERS=()
for name in "${RUNS[@]}"; do
  phi=$(phi_of "${name}")
  if [[ "${name}" == *_deepsim ]]; then
    train "${name}" "configs/cifar10.py:${phi}" --config.method=deepsim \
        --config.deepsim.comparator="pretrained/cifar10/${phi}" "${DEEPSIM_SIZE[@]}" "${TRAIN_FLAGS[@]}" &
  else
    train "${name}" "configs/cifar10.py:${phi}" "${TRAIN_FLAGS[@]}" &
  fi
  TRAINERS+=($!)
done
FAILED=0
for p in "${TRAINERS[@]}"; do wait "${p}" || FAILED=1; done
stamp "training done (failed=${FAILED})"
[[ -n "${GPU_LOG:-}" ]] && kill "${GPU_LOG}" 2>/dev/null

# 4. Bring back what is small: logs, grids, configs; the EMA generators as releases.
HARDWARE="1x NVIDIA H200 shared by ${#RUNS[@]} concurrent runs, bf16 compute"
[[ "${CPU_DRY_RUN}" == 1 ]] && HARDWARE="CPU dry run"
for name in "${RUNS[@]}"; do
  src="${STATE_DIR}/${name}"
  [[ -d "${src}/checkpoints" ]] || { stamp "no checkpoint for ${name}"; continue; }
  mkdir -p "${OUT}/runs/${name}"
  cp -r "${src}/config.json" "${src}/metrics.jsonl" "${src}/run_history.json" "${OUT}/runs/${name}/" 2>/dev/null || true
  cp -r "${src}/images" "${OUT}/runs/${name}/" 2>/dev/null || true
  # --standing_stats: the EMA weights (gpu scale: decay 0.9999) lag G far behind early in a run, and with the live
  # G's batch-norm statistics their pictures saturate (results/gpu/README.md)
  python3 -m biglogit.export --workdir="${src}" --out="${OUT}/pretrained/${name}" --dtype=bfloat16 \
      --standing_stats="${STANDING_BATCHES}" --hardware="${HARDWARE}" >> "${OUT}/logs/export.log" 2>&1 || stamp "export of ${name} failed"
done

# 5. Throughput and final losses of each run.
python3 - "${OUT}" "${STATE_DIR}" <<'PY' | tee "${OUT}/summary.json"
import json, os, sys
out, state = sys.argv[1], sys.argv[2]
summary = {}
for name in sorted(os.listdir(os.path.join(out, "runs"))):
  path = os.path.join(out, "runs", name, "metrics.jsonl")
  if not os.path.exists(path):
    continue
  rows = [json.loads(l) for l in open(path) if l.strip()]
  rates = sorted(r["images_per_s"] for r in rows[1:] if "images_per_s" in r)
  ckpts = os.path.join(state, name, "checkpoints")
  saved = [int(d) for d in os.listdir(ckpts) if d.isdigit()] if os.path.isdir(ckpts) else []
  summary[name] = {"checkpoint_step": max(saved) if saved else None,
                   "logged_step": rows[-1]["step"] if rows else 0,
                   "median_images_per_s": rates[len(rates) // 2] if rates else None,
                   "last": {k: v for k, v in rows[-1].items() if k != "step"} if rows else {}}
print(json.dumps(summary, indent=2))
PY
stamp "done"
exit ${FAILED}
