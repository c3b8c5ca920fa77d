"""Launch scripts: shell syntax, --dry_run commands, and sweep expansion / sequential running."""
import os
import signal
import subprocess
import sys
import time

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


@pytest.mark.parametrize("args,message", [
    (["--config=configs/nothere.py"], "error: --config=configs/nothere.py does not exist; pass a config file"),
    (["--config={syntax}"], "error: the config file {syntax} could not be loaded (SyntaxError: "),
    (["--config=configs/tiny.py"], "error: configs/tiny.py has no get_sweep(); give --grid=key=v1,v2 instead"),
    (["--config=configs/tiny.py", "--grid=train.g_lr"], "error: --grid='train.g_lr'; write key=v1,v2,..."),
])
def test_sweep_refuses_bad_input_in_one_line_with_exit_2(tmp_path, capsys, args, message):
  (tmp_path / "syntax.py").write_text("def get_config(:\n")
  args = [a.format(syntax=tmp_path / "syntax.py") for a in args]
  with pytest.raises(SystemExit) as info:
    sweep.main(args + [f"--root={tmp_path / 'runs'}", "--dry_run"])
  assert info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith(message.format(syntax=tmp_path / "syntax.py")), err
  assert not (tmp_path / "runs").exists()


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


FAKE_MAIN = """#!{python}
# Stands in for `python -m biglogit.main`: records its call, then behaves like a run that saves and
# exits 0 when asked to stop (SIGTERM or Ctrl-C), or finishes after FAKE_SECONDS.
import os, signal, sys, time
for s in (signal.SIGTERM, signal.SIGINT):
  signal.signal(s, lambda *_: sys.exit(0))
with open(os.environ["FAKE_CALLS"], "a") as f:
  f.write(" ".join(sys.argv[1:]) + "\\n")
time.sleep(float(os.environ["FAKE_SECONDS"]))
"""


def _launch_with_fake_python(tmp_path, script, runs, seconds):
  bin_dir, judges = tmp_path / "bin", tmp_path / "judges" / "resnet56"
  bin_dir.mkdir()
  judges.mkdir(parents=True)
  (judges / "classifier.json").write_text("{}")  # the judge exists: no conversion call
  (bin_dir / "python").write_text(FAKE_MAIN.format(python=sys.executable))
  (bin_dir / "python").chmod(0o755)
  calls = tmp_path / "calls"
  env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_CALLS": str(calls),
         "FAKE_SECONDS": str(seconds), "ROOT": str(tmp_path / "runs"), "JUDGES": str(tmp_path / "judges")}
  proc = subprocess.Popen(["bash", os.path.join(LAUNCH, script), *runs], env=env, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True)
  return proc, calls


@pytest.mark.parametrize("script,runs", [("inverters_cifar10.sh", ["resnet4b", "resnet20"]),
                                         ("recipe_cifar10.sh", ["ch8", "ch16"])])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_sent_to_the_launcher_ends_it_after_the_run_in_flight_saves(script, runs, signum, tmp_path):
  # Ctrl-C (or kill -TERM to the group) reaches both; the run exits 0 as a checkpointed run does,
  # and the launcher must not go on to train the next one.
  proc, calls = _launch_with_fake_python(tmp_path, script, runs, seconds=60)
  deadline = time.time() + 30
  while not (calls.exists() and calls.read_text()) and time.time() < deadline:
    time.sleep(0.05)
  os.killpg(proc.pid, signum)
  _, err = proc.communicate(timeout=30)
  assert proc.returncode == 130, err
  assert len(calls.read_text().splitlines()) == 1 and f"/runs/{runs[0]}" in calls.read_text()
  assert f"stopped after {tmp_path}/runs/{runs[0]}; the same command resumes it" in err


def test_without_a_stop_the_launcher_trains_every_run_in_turn(tmp_path):
  proc, calls = _launch_with_fake_python(tmp_path, "inverters_cifar10.sh", ["resnet4b", "resnet20:top1"],
                                         seconds=0)
  _, err = proc.communicate(timeout=60)
  assert proc.returncode == 0, err
  first, second = calls.read_text().splitlines()
  assert "/runs/resnet4b " in first and "/runs/resnet20_top1 " in second
  assert "--config.release.kind=top1" in second and "top1" not in first
