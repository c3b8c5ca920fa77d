"""docs/scaling.md's tables are arithmetic on measured rows: the projection's step time is FLOPs over
(chips x peak x utilisation), the images each host must deliver follow from it, and a topology is
'fitting' only through a measured row of its own chip count."""
import json
import math
import subprocess
import sys

import pytest

from biglogit.perf import scaling_table
from tests.conftest import REPO


def _memory(devices, grad_accum, fits_v4, fits_v5e=False, flops=8e15):
  return {"config": "configs/robust_r152.py", "devices": devices, "per_device_batch": 2048 // devices,
          "micro_batch_per_device": 2048 // devices // grad_accum, "grad_accum": grad_accum, "global_batch": 2048,
          "d_steps": 2, "state_gib": 1.0, "temp_gib": 20.0, "peak_estimate_gib": 22.0, "flops_per_step": flops,
          "fits": {"TPU v4 (32 GiB)": fits_v4, "TPU v5e (16 GiB)": fits_v5e, "H100 (80 GB)": True},
          "program_sha256": "abc", "compile_s": 60.0}


PIPELINE = [{"input_images_per_s": 900.0, "input_cores": 1, "input_workers": 0, "input_read_threads": 8},
            {"input_images_per_s": 1000.0, "input_cores": 2, "input_workers": 2, "input_read_threads": 8}]


def test_projection_divides_the_steps_flops_by_the_chips_peak_and_names_the_least_accumulation_that_fits():
  memory = [_memory(4, 1, False), _memory(4, 2, True), _memory(4, 4, True), _memory(8, 1, True)]
  lines = scaling_table.projection_table(memory, PIPELINE)
  v4 = next(line for line in lines if line.startswith("| TPU v4-8"))
  step_s = 8e15 / (4 * 275e12 * 0.3)
  per_host = 4096 / step_s  # one host
  # cores at the workers' rate per core (500), not the faster single-core threads' (900): threads do not scale
  assert f"{step_s:.2f} / {per_host:,.0f} / {math.ceil(per_host / 500)}" in v4
  assert "grad_accum=2" in v4
  v5e = next(line for line in lines if line.startswith("| TPU v5e-16"))
  assert "not measured" in v5e  # no 16-device row: no fit claimed
  h100 = next(line for line in lines if line.startswith("| 8 x H100"))
  assert "grad_accum=1" in h100


def test_a_topology_whose_measured_rows_all_overflow_says_so():
  lines = scaling_table.projection_table([_memory(4, 1, False), _memory(4, 2, False)], PIPELINE)
  assert "no measured setting" in next(line for line in lines if line.startswith("| TPU v4-8"))


def test_the_command_prints_the_three_tables(tmp_path):
  memory, pipeline = tmp_path / "memory.jsonl", tmp_path / "pipeline.jsonl"
  memory.write_text("\n".join(json.dumps(r) for r in [_memory(8, 1, True)]) + "\n")
  pipeline.write_text("\n".join(json.dumps(r) for r in PIPELINE) + "\n")
  done = subprocess.run([sys.executable, "-m", "biglogit.perf.scaling_table", f"--memory={memory}",
                         f"--pipeline={pipeline}"], cwd=REPO, capture_output=True, text=True, timeout=60)
  assert done.returncode == 0, done.stderr[-1000:]
  assert done.stdout.count("### ") == 3
  assert "| 2 worker processes | 2 | 1000 | 500 |" in done.stdout


@pytest.mark.parametrize("script", ["launch/scaling_cpu.sh", "launch/gpu_benchmark.sh"])
def test_scaling_scripts_parse(script):
  assert subprocess.run(["bash", "-n", f"{REPO}/{script}"]).returncode == 0
