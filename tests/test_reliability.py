"""Nothing a user types deletes their work: commands write only what they create, paired records are
never taken half new, Ctrl-C checkpoints, a full disk is one line (the bad-input table,
test_bad_input_cli.py, holds the refusals; here is the behaviour that is correct rather than refused)."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from biglogit import BiglogitError, files
from biglogit.evaluate import core
from tests.cli_runner import tree_hashes
from tests.conftest import REPO, launch_main, logged_steps, main_env


def _cli(*cases):
  """[(argv, cwd, watch)] through tests/cli_runner.py -> its results."""
  runs = [{"argv": argv, "cwd": cwd, "watch": watch} for argv, cwd, watch in cases]
  out = subprocess.run([sys.executable, os.path.join(REPO, "tests", "cli_runner.py")], input=json.dumps(runs),
                       capture_output=True, text=True, cwd=REPO, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  return json.loads(out.stdout)


def test_export_never_removes_what_it_did_not_create(inverter_runs, tmp_path):
  """`export --workdir=RUN.tmp --out=RUN` deleted the training workdir (export staged in OUT.tmp and
  cleared it first); an unrelated OUT.tmp folder went the same way."""
  run_tmp = shutil.copytree(inverter_runs["gan"], tmp_path / "run.tmp")
  (tmp_path / "other.tmp").mkdir()
  (tmp_path / "other.tmp" / "notes.txt").write_text("mine")
  before = tree_hashes([str(run_tmp), str(tmp_path / "other.tmp")])
  results = _cli((["biglogit.export", f"--workdir={run_tmp}", f"--out={tmp_path / 'run'}", "--hardware=cpu"], REPO, []),
                 (["biglogit.export", f"--workdir={run_tmp}", f"--out={tmp_path / 'other'}", "--hardware=cpu"], REPO, []))
  assert [r["rc"] for r in results] == [0, 0], results[0]["stderr"][-2000:] + results[1]["stderr"][-2000:]
  assert tree_hashes([str(run_tmp), str(tmp_path / "other.tmp")]) == before
  assert (tmp_path / "run" / "MODEL_CARD.md").exists() and (tmp_path / "other" / "MODEL_CARD.md").exists()
  assert sorted(os.listdir(tmp_path)) == ["other", "other.tmp", "run", "run.tmp"]  # no staging left


def test_report_writes_only_under_out_and_only_its_own_files(inverter_runs, tmp_path):
  """A run's record names the figure files; a crafted one ("run": "../../x", a figure "../../y.png")
  must not steer a write outside --out. A report may be rebuilt into its own folder, where it replaces
  only what it wrote (an intro file beside it stays)."""
  run = shutil.copytree(inverter_runs["gan"], tmp_path / "crafted")
  record = json.loads((run / "eval" / "metrics_step_00000004.json").read_text())
  record["run"] = "../../../escaped"
  core.write_record(str(run / "eval"), record)
  grid = run / "experiments" / "grid"
  grid.mkdir(parents=True)
  (grid / "grid.png").write_bytes(b"\x89PNG\r\n\x1a\n")
  (grid / "grid.json").write_text(json.dumps({"figures": ["../../../../grid.png"], "per_run": {}}))
  out = tmp_path / "site" / "report"
  out.mkdir(parents=True)
  (out / "findings.md").write_text("my findings")
  outside = tree_hashes([str(tmp_path)])
  for _ in range(2):  # built, then rebuilt over itself
    result, = _cli((["biglogit.report", str(run), f"--out={out}", f"--intro={out / 'findings.md'}"], REPO, []))
    assert result["rc"] == 0, result["stderr"][-2000:]
  changed = {p for p, h in tree_hashes([str(tmp_path)]).items() if outside.get(p) != h} | \
      {p for p in outside if not os.path.exists(p)}
  assert changed and all(p.startswith(str(out) + os.sep) for p in changed), changed
  assert (out / "findings.md").read_text() == "my findings"
  assert sorted(os.listdir(out / "figures")) == ["_.._.._escaped_grid_grid.png"]


def test_a_record_pair_interrupted_between_its_writes_is_refused(tmp_path):
  """metrics.md is written first and names the JSON it renders; a kill between the two writes leaves
  a new md beside the old json, which readers refuse in one line."""
  old = {"run": "r", "num_examples": 1, "metrics": {"psnr": {"mean": 1.0, "ci_low": 0.9, "ci_high": 1.1, "n": 1}}}
  core.write_record(str(tmp_path), old)
  assert core.read_record(str(tmp_path / "metrics.json")) == old
  new = json.loads(json.dumps(old))
  new["metrics"]["psnr"]["mean"] = 2.0
  core.write_record(str(tmp_path / "new"), new)
  shutil.copy(tmp_path / "new" / "metrics.md", tmp_path / "metrics.md")  # the kill: md new, json old
  with pytest.raises(BiglogitError, match="describe different evaluations"):
    core.read_record(str(tmp_path / "metrics.json"))
  os.remove(tmp_path / "metrics.md")  # a record without its markdown (or from before the digest) reads
  assert core.read_record(str(tmp_path / "metrics.json")) == old


def test_atomic_write_keeps_the_old_file_and_leaves_no_temporary_when_the_disk_is_full(tmp_path, monkeypatch):
  target = tmp_path / "metrics.md"
  target.write_text("old")
  assert files.unique_sibling(target) != files.unique_sibling(target)  # two writers, two temporaries

  def full(*_):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(os, "replace", full)
  with pytest.raises(BiglogitError, match=r"was not written: no space left on the device \(its previous version"):
    files.atomic_write(target, "new")
  assert target.read_text() == "old" and os.listdir(tmp_path) == ["metrics.md"]


def test_ctrl_c_checkpoints_the_current_step_and_says_so_in_one_line(tiny_config, tmp_path):
  """SIGINT is handled like SIGTERM: the loop checkpoints the step it is at and exits cleanly (it was
  a KeyboardInterrupt traceback that lost the checkpoint in flight)."""
  workdir = tmp_path / "run"
  log = open(tmp_path / "log.txt", "w")
  proc = launch_main(workdir, tiny_config.data.dataset, "--config.train.num_steps=500", "--config.log_every=1",
                     "--config.checkpoint_every=1000", log=log)
  start = time.time()
  while not logged_steps(workdir) or max(logged_steps(workdir)) < 3:
    assert proc.poll() is None and time.time() - start < 300, open(tmp_path / "log.txt").read()[-3000:]
    time.sleep(0.05)
  proc.send_signal(signal.SIGINT)
  assert proc.wait(timeout=120) == 0
  output = open(tmp_path / "log.txt").read()
  assert "Traceback" not in output and "SIGINT received: checkpointing and exiting" in output
  saved = sorted(int(p) for p in os.listdir(workdir / "checkpoints") if p.isdigit())
  assert saved and saved[-1] >= 3 and "rerun to resume" in output
  assert not [p for p in os.listdir(workdir / "checkpoints") if "tmp" in p]


@pytest.fixture
def small_disk(tmp_path):
  """A real 6 MiB filesystem (tmpfs), where the machine lets the tests mount one."""
  mount = tmp_path / "small_disk"
  mount.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True).returncode:
    pytest.skip("cannot mount a tmpfs here (needs root and a kernel that allows it)")
  yield mount
  subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_disk_stops_training_in_one_line_with_the_last_checkpoint_intact(tiny_config, small_disk):
  workdir = small_disk / "run"
  proc = subprocess.run(
      [sys.executable, "-m", "biglogit.main", "--config=configs/tiny.py", f"--workdir={workdir}",
       f"--config.data.dataset={tiny_config.data.dataset}", "--config.train.num_steps=200",
       "--config.checkpoint_every=1", "--config.keep_checkpoints=200", "--config.image_every=0"],
      cwd=REPO, env=main_env(1), capture_output=True, text=True, timeout=600)
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
  assert len(lines) == 1 and "is intact; free space" in lines[0], proc.stderr[-3000:]
  newest = int(lines[0].split("newest complete checkpoint (step ")[1].split(")")[0])
  saved = sorted(int(p) for p in os.listdir(workdir / "checkpoints") if p.isdigit())
  assert newest == saved[-1] >= 1 and not [p for p in os.listdir(workdir / "checkpoints") if "tmp" in p]
  from biglogit.inverter import Inverter
  assert Inverter.load(str(workdir)).step == newest  # it restores


def _fill(disk, leave_bytes=0):
  """Fills the filesystem at `disk` up to `leave_bytes` of free space."""
  free = shutil.disk_usage(disk).free
  with open(os.path.join(disk, "filler"), "wb") as f:
    f.write(b"\0" * max(free - leave_bytes, 0))


def test_evaluate_and_make_logits_on_a_full_disk_are_one_line_and_leave_nothing_half_written(
    inverter_runs, image_folder, small_disk):
  _fill(small_disk, leave_bytes=4096)
  results = _cli(
      (["biglogit.evaluate", f"--workdir={inverter_runs['gan']}", f"--out={small_disk / 'eval'}"], REPO, []),
      (["biglogit.data.make_logits", f"--source={image_folder}", f"--classifier={inverter_runs['phi']}",
        f"--data_dir={small_disk / 'data'}"], REPO, []))
  for result in results:
    lines = [l for l in result["stderr"].splitlines() if l.startswith("error: ")]
    assert result["rc"] == 2 and "Traceback" not in result["stderr"], result["stderr"][-3000:]
    assert len(lines) == 1 and "no space left on the device" in lines[0], result["stderr"][-3000:]
  leftovers = [os.path.join(root, n) for root, _, names in os.walk(small_disk) for n in names if n != "filler"]
  assert leftovers == [], leftovers  # no 0-byte metrics.md.tmp, no incomplete dataset
