"""The performance tools run as documented, end to end, from any working directory and with no dataset:
synthetic logits get synthetic conditioning statistics, and the output says so."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, main_env


def _run(args, cwd, timeout=400):
  done = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=main_env(1), capture_output=True,
                        text=True, timeout=timeout)
  assert done.returncode == 0, done.stderr[-2000:]
  return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_benchmark_times_a_standardising_config_without_a_dataset(tmp_path):
  rows = _run(["biglogit.perf.benchmark", f"--config={REPO}/configs/tiny.py", "--steps=1"], tmp_path)
  assert rows[-1]["images_per_s"] > 0 and rows[-1]["flops_per_step"] > 0
  assert "synthetic conditioning statistics" in rows[-1]["data"]


def test_memory_reports_a_steps_bytes_and_flops_per_device_and_accumulation_lowers_them(tmp_path):
  """perf.memory compiles the step ahead of time on simulated CPU devices (never running it); with
  train.grad_accum=4 the same global batch needs fewer temporary bytes per device."""
  rows = [_run(["biglogit.perf.memory", f"--config={REPO}/configs/tiny.py", "--devices=2",
                "--config.train.global_batch=32", "--config.train.d_steps=1", f"--config.train.grad_accum={k}"],
               tmp_path)[-1] for k in (1, 4)]
  for row in rows:
    assert row["devices"] == 2 and row["per_device_batch"] == 16 and row["flops_per_step"] > 0
    assert 0 < row["state_bytes"] and row["peak_estimate_bytes"] > row["temp_bytes"] > 0
    assert all(row["fits"].values()) and "synthetic" in row["data"]
  assert rows[1]["micro_batch_per_device"] == 4 and rows[1]["temp_bytes"] < rows[0]["temp_bytes"]
  assert rows[1]["state_bytes"] == rows[0]["state_bytes"]
  # the same arithmetic in 4 pieces: XLA counts the micro-batch loop's body once, the report all 4
  assert abs(rows[1]["flops_per_step"] / rows[0]["flops_per_step"] - 1) < 0.1


def test_profile_step_runs_on_the_tiny_config(tmp_path):
  rows = _run(["biglogit.perf.profile_step", f"--config={REPO}/configs/tiny.py", "--repeats=1"], tmp_path)
  assert "synthetic" in rows[0]["data"]
  pieces = {r["piece"]: r for r in rows if "piece" in r}
  assert pieces["whole train step"]["seconds"] > 0 and len(pieces) >= 3


def test_conv_benchmark_runs(tmp_path):
  rows = _run(["biglogit.perf.conv_benchmark", "--batch=2", "--repeats=1"], tmp_path)
  assert rows and all(r.get("gflop_per_s", 1) >= 0 for r in rows)


def test_compare_reference_runs_from_another_folder(tmp_path):
  """biglogit's side on the tiny config at one setting; the reference's where torch and ../shared are."""
  has_reference = os.path.exists(os.path.join(REPO, "..", "shared", "reference", "biggan-pytorch", "time_biggan.py"))
  has_torch = importlib.util.find_spec("torch") is not None
  rows = _run(["biglogit.perf.compare_reference", "--config=configs/tiny.py", "--settings=ch16_b64_d2",
               "--rounds=1", "--steps=1"], tmp_path)
  ours = [r for r in rows if r.get("impl") == "biglogit"]
  assert ours and ours[0]["images_per_s"] > 0
  summary = [r for r in rows if "summary" in r][0]
  if not (has_reference and has_torch):
    pytest.skip("the reference side needs ../shared/reference/biggan-pytorch and torch; biglogit's side ran")
  assert summary["ratio_of_medians"] > 0
