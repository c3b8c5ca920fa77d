#!/usr/bin/env bash
# One call of the project's GPU machine (<= ~9 min): biglogit against BigGAN-PyTorch on the same GPU,
# the input pipeline alone, and biglogit's MFU, written as JSON lines to $OUT/gpu_benchmark.jsonl and
# as a table to $OUT/gpu_benchmark.md (docs/performance.md takes the table).
#   1. images/s at the CIFAR-10 `gpu` scale (32 px, ch 64, batch 256, 2 D steps), bf16 and fp32, biglogit
#      (python -m biglogit.perf.benchmark, synthetic data) and the reference (time_biggan.py)
#   2. the same at 128 px with BigGAN-128 widths (ch 96, attention at 64) at BATCH_128 (default 64)
#   3. MFU = achieved FLOP/s (XLA's cost analysis) / PEAK_TFLOPS of the card for each biglogit row
#   4. the input pipeline alone (--input_batches) at 32 and 128 px on generated textured datasets:
#      read threads, worker processes, and data.in_memory at 32 px
# Each command has its own time limit, so one slow piece costs only its share.
#
# Usage (device machine, repository root; wheels and the reference carried in .carry/):
#   OUT=$OUT WHEELS=.carry/wheels REFERENCE=.carry/biggan-pytorch bash launch/gpu_benchmark.sh
# (../shared does not travel: copy ../shared/device-wheels/py312/*.whl to .carry/wheels and
#  ../shared/reference/biggan-pytorch to .carry/biggan-pytorch, and carry .carry.)
# CPU dry run (this machine: every command at toy size, to check the script, not its figures: a few toy
# batches come out of the workers' buffers, e.g. 300,000 images/s; 158 s on 2 cores):
#   OUT=/tmp/gpu_bench_dry CPU_DRY_RUN=1 bash launch/gpu_benchmark.sh
#
# Variables (environment; defaults in brackets):
#   OUT           output folder brought back                                  [required]
#   WHEELS        extra wheels to install (--no-index --no-deps)              [.carry/wheels]
#   REFERENCE     BigGAN-PyTorch timing harness (time_biggan.py + its peer)   [../shared/reference/biggan-pytorch]
#   PEAK_TFLOPS_BF16 / PEAK_TFLOPS_FP32  the card's dense peak, for MFU       [989 / 67: H100 SXM]
#   STEPS         timed steps per benchmark                                   [20]
#   BATCH_128     global batch of the 128-px rows                            [64]
#   DATA_DIR      where the generated datasets go                             [/tmp/biglogit_bench_data]
#   CPU_DRY_RUN   1: toy sizes on the CPU                                     [0]
set -uo pipefail

: "${OUT:?set OUT}"
WHEELS=${WHEELS:-.carry/wheels}
REFERENCE=${REFERENCE:-../shared/reference/biggan-pytorch}
PEAK_BF16=${PEAK_TFLOPS_BF16:-989}
PEAK_FP32=${PEAK_TFLOPS_FP32:-67}
STEPS=${STEPS:-20}
BATCH_128=${BATCH_128:-64}
DATA_DIR=${DATA_DIR:-/tmp/biglogit_bench_data}
CPU_DRY_RUN=${CPU_DRY_RUN:-0}
mkdir -p "${OUT}" "${DATA_DIR}"
LOG="${OUT}/gpu_benchmark.log"
ROWS="${OUT}/gpu_benchmark.jsonl"
: > "${ROWS}"
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "${LOG}"; }

if [[ -d "${WHEELS}" ]] && ls "${WHEELS}"/*.whl >/dev/null 2>&1; then
  stamp "installing $(ls "${WHEELS}"/*.whl | wc -l) wheels"
  python3 -m pip install -q --no-index --no-deps --target /tmp/biglogit_site "${WHEELS}"/*.whl >> "${LOG}" 2>&1
  export PYTHONPATH="/tmp/biglogit_site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$(pwd):${PYTHONPATH:-}"

# Sizes: the real ones on the GPU, toy ones for the dry run (same commands otherwise).
if [[ "${CPU_DRY_RUN}" == 1 ]]; then
  export JAX_PLATFORMS=cpu
  DEVICE=cpu STEPS=1 BATCH_32=8 CH_32=8 BATCH_128=4 CH_128=8 NUM_TRAIN=64 INPUT_BATCHES=3 LIMIT=300
else
  DEVICE=cuda BATCH_32=256 CH_32=64 CH_128=96 NUM_TRAIN=4096 INPUT_BATCHES=50 LIMIT=240
fi

# row LABEL LIMIT_S COMMAND...: runs it, appends its last JSON line with the label to $ROWS
row() {
  local label=$1 limit=$2; shift 2
  stamp "${label}: $*"
  local out
  # timeout runs programs, not shell functions: the row's function runs in a child bash (exported below)
  out=$(timeout "${limit}" bash -c '"$@"' row "$@" 2>> "${LOG}" | grep '^{' | tail -1)
  if [[ -n "${out}" ]]; then
    python3 -c "import json,sys; r=json.loads(sys.argv[2]); r['row']=sys.argv[1]; print(json.dumps(r))" \
        "${label}" "${out}" >> "${ROWS}"
  else
    echo "{\"row\": \"${label}\", \"failed\": true}" >> "${ROWS}"
    stamp "${label}: no result (see ${LOG})"
  fi
}

ours() {  # biglogit's step on synthetic data: CONFIG BATCH CH DTYPE [overrides...]
  local config=$1 batch=$2 ch=$3 dtype=$4; shift 4
  python3 -m biglogit.perf.benchmark --config="${config}" --steps="${STEPS}" --compile_cache= \
      --config.train.global_batch="${batch}" --config.model.ch_g="${ch}" --config.model.ch_d="${ch}" \
      --config.model.compute_dtype="${dtype}" "$@"
}
theirs() {  # the reference's step: RESOLUTION BATCH CH AMP D_STEPS [ATTN]
  local attn=()
  [[ -n "${6:-}" ]] && attn=(--attn "$6")
  python3 "${REFERENCE}/time_biggan.py" --peer_dir "${REFERENCE}/BigGAN-PyTorch" --device "${DEVICE}" \
      --resolution "$1" --batch "$2" --ch "$3" --amp "$4" --d_steps "$5" "${attn[@]}" --zy plain --ema on \
      --warmup 3 --steps "${STEPS}" --flops off
}

pipe() {  # RESOLUTION CONFIG [overrides...]: batches/s of the pipeline alone
  local res=$1 config=$2; shift 2
  python3 -m biglogit.perf.benchmark --config="${config}" --steps=0 --input_batches="${INPUT_BATCHES}" \
      --config.data.dataset="textured${res}" --config.data.data_dir="${DATA_DIR}" \
      --config.train.global_batch="$([[ ${res} == 32 ]] && echo "${BATCH_32}" || echo "${BATCH_128}")" "$@"
}
export -f ours theirs pipe
export STEPS REFERENCE DEVICE DATA_DIR INPUT_BATCHES BATCH_32 BATCH_128

# 1-2. the train step, biglogit and the reference, 32 px then 128 px
CIFAR="configs/cifar10.py:resnet20,gpu"
IMAGENET="configs/robust_r152.py"
row "biglogit 32px bf16" "${LIMIT}" ours "${CIFAR}" "${BATCH_32}" "${CH_32}" bfloat16
row "reference 32px bf16" "${LIMIT}" theirs 32 "${BATCH_32}" "${CH_32}" bf16 2
row "biglogit 32px fp32" "${LIMIT}" ours "${CIFAR}" "${BATCH_32}" "${CH_32}" float32
row "reference 32px fp32" "${LIMIT}" theirs 32 "${BATCH_32}" "${CH_32}" off 2
row "biglogit 128px bf16" "${LIMIT}" ours "${IMAGENET}" "${BATCH_128}" "${CH_128}" bfloat16 --config.train.d_steps=2
row "reference 128px bf16" "${LIMIT}" theirs 128 "${BATCH_128}" "${CH_128}" bf16 2 64

# 4. the input pipeline alone, on generated textured datasets (PNG decoding costs about a photograph's)
for res in 32 128; do
  python3 -m biglogit.demo_data --out="${DATA_DIR}" --name="textured${res}" --resolution="${res}" \
      --pattern=textured --num_train="${NUM_TRAIN}" >> "${LOG}" 2>&1
done
row "input 32px threads" "${LIMIT}" pipe 32 "${CIFAR}" --config.data.in_memory=False
row "input 32px in_memory" "${LIMIT}" pipe 32 "${CIFAR}" --config.data.in_memory=True
row "input 32px 8 workers" "${LIMIT}" pipe 32 "${CIFAR}" --config.data.in_memory=False --config.data.worker_count=8
row "input 128px threads" "${LIMIT}" pipe 128 "${IMAGENET}" --config.model.num_classes=10 --config.data.worker_count=0
row "input 128px 8 workers" "${LIMIT}" pipe 128 "${IMAGENET}" --config.model.num_classes=10 --config.data.worker_count=8

# 3. the table, with MFU for biglogit's rows
python3 - "${ROWS}" "${PEAK_BF16}" "${PEAK_FP32}" > "${OUT}/gpu_benchmark.md" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
peak = {"bfloat16": float(sys.argv[2]), "float32": float(sys.argv[3])}
number = lambda x, fmt: "" if x is None else format(x, fmt)
print("| row | images/s | step (ms) | MFU | compile (s) | input images/s |")
print("|---|---|---|---|---|---|")
for r in rows:
  step_ms = r["step_s"] * 1000 if "step_s" in r else r.get("ms_per_iter_median")
  mfu = r["achieved_tflops"] / peak[r["compute_dtype"]] if "achieved_tflops" in r else None
  cells = ["failed"] * 5 if r.get("failed") else [
      number(r.get("images_per_s"), ".0f"), number(step_ms, ".1f"), number(mfu, ".1%"),
      number(r.get("compile_s"), ".1f"), number(r.get("input_images_per_s"), ".0f")]
  print("| " + " | ".join([r["row"]] + cells) + " |")
EOF
stamp "done: ${ROWS}, ${OUT}/gpu_benchmark.md"
