#!/usr/bin/env bash
# The measurements behind docs/scaling.md, on this (CPU-only) machine, one after another:
#   1. perf.memory: the ImageNet configs' real training step compiled ahead of time on simulated meshes
#      of CPU devices (per-device state, temporaries, peak estimate, FLOPs per step, fits), one JSON line
#      per (config, devices, grad_accum) in $OUT/memory.jsonl;
#   2. the input pipeline alone at 128 px (perf.benchmark --steps=0 --input_batches) on a generated
#      textured dataset, with read threads and with worker processes, on 1 core (taskset) and on all,
#      in $OUT/pipeline.jsonl;
#   3. the tables: python -m biglogit.perf.scaling_table --memory=$OUT/memory.jsonl --pipeline=$OUT/pipeline.jsonl
# A row already in its file is skipped (rerun = resume). Run it on an otherwise idle machine: item 2 is a
# timing. Cost on 2 cores (Intel Xeon): each AOT compile of the 128-px step takes minutes (compile_s in its row).
#
# Variables (environment; defaults in brackets):
#   OUT        where the JSON lines go                               [results/scaling]
#   CONFIGS    configs compiled at each CONFIG_DEVICES count          [robust_r152 standard_r152 inception_v3]
#   CONFIG_DEVICES  device counts for every config (same program?)    [8 32]
#   DEVICES    simulated device counts for robust_r152                [4 8 16 32]
#   ACCUM      extra "devices:grad_accum" rows for robust_r152        [4:8 4:16 16:4 16:8 8:2 32:2]
#   DATA_DIR   where the 128-px dataset is generated                  [/tmp/biglogit_scaling_data]
#   BATCHES    timed batches per pipeline row (global batch 256, d_steps 2)   [20]
set -euo pipefail
OUT=${OUT:-results/scaling}
CONFIGS=${CONFIGS:-robust_r152 standard_r152 inception_v3}
CONFIG_DEVICES=${CONFIG_DEVICES:-8 32}
DEVICES=${DEVICES:-4 8 16 32}
ACCUM=${ACCUM:-4:8 4:16 16:4 16:8 8:2 32:2}
DATA_DIR=${DATA_DIR:-/tmp/biglogit_scaling_data}
BATCHES=${BATCHES:-20}
mkdir -p "${OUT}"
touch "${OUT}/memory.jsonl" "${OUT}/pipeline.jsonl"

memory_row() {  # CONFIG DEVICES GRAD_ACCUM
  local config=$1 devices=$2 accum=$3
  if python3 - "${OUT}/memory.jsonl" "configs/${config}.py" "${devices}" "${accum}" <<'EOF'; then return; fi
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
done = any(r["config"] == sys.argv[2] and r["devices"] == int(sys.argv[3]) and r["grad_accum"] == int(sys.argv[4])
           for r in rows)
sys.exit(0 if done else 1)
EOF
  echo "$(date +%T) perf.memory ${config} devices=${devices} grad_accum=${accum}"
  python3 -m biglogit.perf.memory --config="configs/${config}.py" --devices="${devices}" --compile_cache= \
      --config.train.grad_accum="${accum}" | grep '^{' >> "${OUT}/memory.jsonl"
}

for devices in ${CONFIG_DEVICES}; do for config in ${CONFIGS}; do memory_row "${config}" "${devices}" 1; done; done
for devices in ${DEVICES}; do memory_row robust_r152 "${devices}" 1; done
for pair in ${ACCUM}; do memory_row robust_r152 "${pair%%:*}" "${pair##*:}"; done

# 2. the pipeline at 128 px: 4096 generated textured images (PNG, as make_logits stores them)
[[ -d "${DATA_DIR}/textured128" ]] || python3 -m biglogit.demo_data --out="${DATA_DIR}" --name=textured128 \
    --resolution=128 --pattern=textured --num_train=4096 > /dev/null
pipeline_row() {  # LABEL CPUS OVERRIDES...
  local label=$1 cpus=$2; shift 2
  grep -q "\"label\": \"${label}\"" "${OUT}/pipeline.jsonl" && return
  echo "$(date +%T) pipeline ${label}"
  taskset -c "${cpus}" python3 -m biglogit.perf.benchmark --config=configs/robust_r152.py --steps=0 \
      --input_batches="${BATCHES}" --config.data.dataset=textured128 --config.data.data_dir="${DATA_DIR}" \
      --config.model.num_classes=10 --config.train.global_batch=256 "$@" | grep '^{' \
    | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r['label']=sys.argv[1]; print(json.dumps(r))" \
        "${label}" >> "${OUT}/pipeline.jsonl"
}
all=$(python3 -c "import os; print(','.join(map(str, sorted(os.sched_getaffinity(0)))))")
pipeline_row "1 core, 8 threads" 0 --config.data.worker_count=0
pipeline_row "1 core, 1 worker" 0 --config.data.worker_count=1
pipeline_row "all cores, 8 threads" "${all}" --config.data.worker_count=0
pipeline_row "all cores, 2 workers" "${all}" --config.data.worker_count=2
pipeline_row "all cores, 4 workers" "${all}" --config.data.worker_count=4

python3 -m biglogit.perf.scaling_table --memory="${OUT}/memory.jsonl" --pipeline="${OUT}/pipeline.jsonl"
