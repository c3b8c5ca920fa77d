"""Launch scripts: shell syntax, --dry_run commands, and sweep expansion / sequential running."""
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

LAUNCH = os.path.join(REPO, "launch")
sys.path.insert(0, LAUNCH)
import sweep  # noqa: E402


@pytest.mark.parametrize("script", ["tpu_pod.sh", "slurm.sbatch", "local.sh", "gpu_release_cifar10.sh",
                                    "evaluate_cifar10.sh", "tinyimagenet_effnet.sh",
                                    "logit_dimension.sh", "conditioning_cifar10.sh", "leakage_cifar10.sh",
                                    "inverters_cifar10.sh", "recipe_cifar10.sh"])
def test_shell_syntax_and_documented_variables(script):
  path = os.path.join(LAUNCH, script)
  assert subprocess.run(["bash", "-n", path]).returncode == 0
  head = open(path).read().split("set -euo pipefail")[0]
  assert "Usage" in head and "Variables" in head


def _dry(script, *args, **env):
  out = subprocess.run(["bash", os.path.join(LAUNCH, script), "--dry_run", *args], capture_output=True,
                       text=True, env={**os.environ, **env}, timeout=60)
  assert out.returncode == 0, out.stderr
  return out.stdout


def test_tpu_pod_dry_run_creates_copies_installs_and_runs_on_all_workers():
  out = _dry("tpu_pod.sh", "--config.train.num_steps=10", WORKDIR="gs://b/run", ACCELERATOR="v5p-16")
  lines = out.splitlines()
  assert "tpu-vm create biglogit --accelerator-type=v5p-16" in lines[0]
  assert any("tpu-vm scp" in l and "--worker=all" in l for l in lines)
  run = lines[-1]
  assert "--worker=all" in run and "python -m biglogit.main" in run
  assert "--workdir=gs://b/run" in run and "--config.train.num_steps=10" in run


def test_slurm_and_local_dry_runs():
  out = _dry("slurm.sbatch", CONFIG="configs/tiny.py", WORKDIR="/shared/w")
  assert "srun" in out and "--config=configs/tiny.py" in out and "--workdir=/shared/w" in out
  out = _dry("local.sh", "--config.train.num_steps=3", CONFIG="configs/tiny.py")
  assert "--workdir=workdirs/tiny" in out and out.strip().endswith("--config.train.num_steps=3")


def test_sweep_expands_get_sweep_and_grid(capsys):
  assert sweep.main(["--config=configs/cifar10.py:resnet4b", "--root=/r", "--dry_run"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 5
  assert "--workdir=/r/kind=topk,k=5" in lines[2] and "--config.release.k=5" in lines[2]
  assert all("--config=configs/cifar10.py:resnet4b " in l for l in lines)  # the variant goes to every run
  assert sweep.main(["--config=configs/tiny.py", "--root=/r", "--grid=train.g_lr=1e-4,2e-4",
                     "--grid=seed=0,1", "--dry_run", "--", "--config.train.num_steps=2"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 4 and len({l.split("--workdir=")[1].split()[0] for l in lines}) == 4
  assert all(l.endswith("--config.train.num_steps=2") for l in lines)


def test_sweep_runs_each_point_in_turn_and_reports_failures(tmp_path, capsys):
  # Unknown keys make every run fail fast: both are attempted, and the sweep exits 1 naming them.
  code = sweep.main(["--config=configs/tiny.py", f"--root={tmp_path}", "--grid=no_such_key=1,2"])
  err = capsys.readouterr().err
  assert code == 1 and "2 of 2 runs failed" in err


@pytest.mark.parametrize("script,arg,message", [
    ("recipe_cifar10.sh", "ch64", "unknown candidate ch64; one of: ch8 ch16 ch32 ch16_b64 ch16_d2 ch16_diffaug"),
    ("inverters_cifar10.sh", "resnet4b:top5", "unknown suffix in resnet4b:top5; use PHI or PHI:top1")])
def test_the_cifar10_launchers_refuse_an_unknown_run_before_training_anything(script, arg, message, tmp_path):
  out = subprocess.run(["bash", os.path.join(LAUNCH, script), arg], capture_output=True, text=True,
                       env={**os.environ, "ROOT": str(tmp_path)}, timeout=60, cwd=REPO)
  assert out.returncode == 2 and out.stderr.strip() == message
  assert os.listdir(tmp_path) == []
