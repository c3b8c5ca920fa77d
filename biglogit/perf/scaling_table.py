"""python -m biglogit.perf.scaling_table --memory=results/scaling/memory.jsonl --pipeline=results/scaling/pipeline.jsonl

The tables of docs/scaling.md, from what was measured on this machine (launch/scaling_cpu.sh):
  1. per device, from perf.memory's rows: state, temporaries, peak estimate, FLOPs per step, fits;
  2. the input pipeline per host core, from perf.benchmark --input_batches rows (threads / workers);
  3. projections for the topologies a pod user rents: step time at 30/40/50% of the chips' bf16 peak
     (FLOPs per step from table 1), the real images per second each host must then deliver (D steps
     included: d_steps x global batch per step), and the host cores that takes at table 2's best rate
     per core with worker processes (the reading that scales with cores).
The projections are arithmetic on measured FLOPs and vendor peaks, not measurements of the pods.
"""
import json
import math

from absl import flags

from biglogit import cli

FLAGS = flags.FLAGS

# The topologies of the projections (vendor figures: cloud.google.com/tpu/docs/v4 and /v5e, the A3
# machine type for H100): chips, hosts, bf16 dense peak per chip, host vCPUs.
TOPOLOGIES = (
    {"name": "TPU v4-8", "chips": 4, "hosts": 1, "peak_tflops": 275, "host_vcpus": 240, "fits_key": "TPU v4 (32 GiB)"},
    {"name": "TPU v5e-16", "chips": 16, "hosts": 4, "peak_tflops": 197, "host_vcpus": 112,
     "fits_key": "TPU v5e (16 GiB)"},
    {"name": "8 x H100 (one A3 host)", "chips": 8, "hosts": 1, "peak_tflops": 989, "host_vcpus": 208,
     "fits_key": "H100 (80 GB)"},
)
UTILISATIONS = (0.3, 0.4, 0.5)


def read_rows(path: str) -> list:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def memory_table(rows: list) -> list:
  lines = ["| config | devices | batch per device (micro-batch) | state GiB | temporaries GiB | peak estimate GiB "
           "| TFLOP per step | fits TPU v4 / v5e / H100 | program | compile s |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    fits = " / ".join("yes" if ok else "no" for ok in r["fits"].values())
    lines.append(f"| {r['config']} | {r['devices']} | {r['per_device_batch']} ({r['micro_batch_per_device']}) "
                 f"| {r['state_gib']:.2f} | {r['temp_gib']:.2f} | {r['peak_estimate_gib']:.2f} "
                 f"| {r['flops_per_step'] / 1e12:.1f} | {fits} | {r['program_sha256']} | {r['compile_s']:.0f} |")
  return lines


def per_core_rate(row: dict) -> float:
  return row["input_images_per_s"] / row["input_cores"]


def pipeline_table(rows: list) -> list:
  lines = ["| reading | host cores | images/s | images/s per core |", "|---|---|---|---|"]
  for r in rows:
    how = (f"{r['input_workers']} worker processes" if r["input_workers"]
           else f"{r['input_read_threads']} read threads")
    lines.append(f"| {how} | {r['input_cores']} | {r['input_images_per_s']:.0f} | {per_core_rate(r):.0f} |")
  return lines


def _smallest_fitting(memory_rows: list, chips: int, fits_key: str):
  """The memory row of this chip count that fits, with the least accumulation (None: none measured fits)."""
  rows = [r for r in memory_rows if r["devices"] == chips and r["fits"][fits_key]]
  return min(rows, key=lambda r: r["grad_accum"]) if rows else None


def projection_table(memory_rows: list, pipeline_rows: list) -> list:
  flops = {r["flops_per_step"] for r in memory_rows if r["grad_accum"] == 1}
  flops_per_step = max(flops)  # the same program's FLOPs; partitioning changes them by collectives only
  real_per_step = memory_rows[0]["global_batch"] * memory_rows[0]["d_steps"]
  # Worker processes decode outside the trainer's interpreter lock, so their rate grows with the host's
  # cores; read threads share that lock and stop at about one core's worth however many cores there are.
  scaling = [r for r in pipeline_rows if r["input_workers"]] or pipeline_rows
  best = max(scaling, key=per_core_rate)
  head = " | ".join(f"step s / images/s per host / host cores at {u:.0%}" for u in UTILISATIONS)
  lines = [f"| topology | fits with | {head} | host vCPUs |", "|---|---|" + "---|" * len(UTILISATIONS) + "---|"]
  for t in TOPOLOGIES:
    row = _smallest_fitting(memory_rows, t["chips"], t["fits_key"])
    fits = (f"grad_accum={row['grad_accum']} ({row['peak_estimate_gib']:.1f} GiB)" if row
            else "not measured" if not any(r["devices"] == t["chips"] for r in memory_rows) else "no measured setting")
    cells = []
    for u in UTILISATIONS:
      step_s = flops_per_step / (t["chips"] * t["peak_tflops"] * 1e12 * u)
      per_host = real_per_step / step_s / t["hosts"]
      cells.append(f"{step_s:.2f} / {per_host:,.0f} / {math.ceil(per_host / per_core_rate(best))}")
    lines.append(f"| {t['name']} | {fits} | " + " | ".join(cells) + f" | {t['host_vcpus']} |")
  lines.append("")
  lines.append(f"FLOPs per step {flops_per_step / 1e12:.1f} TFLOP (table 1), {real_per_step} real images per step "
               f"(d_steps x global batch); host cores at the best measured rate per core, "
               f"{per_core_rate(best):.0f} images/s ({best['input_workers']} workers).")
  return lines


def main(argv):
  del argv
  memory_rows, pipeline_rows = read_rows(FLAGS.memory), read_rows(FLAGS.pipeline)
  for title, lines in (("Per device (perf.memory)", memory_table(memory_rows)),
                       ("Input pipeline at 128 px (perf.benchmark --input_batches)", pipeline_table(pipeline_rows)),
                       ("Projections", projection_table(memory_rows, pipeline_rows))):
    print(f"### {title}\n")
    print("\n".join(lines) + "\n")


if __name__ == "__main__":
  flags.DEFINE_string("memory", "results/scaling/memory.jsonl", "perf.memory's JSON lines.")
  flags.DEFINE_string("pipeline", "results/scaling/pipeline.jsonl", "perf.benchmark --input_batches JSON lines.")
  cli.run(main)
