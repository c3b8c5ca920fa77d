"""One training per workdir: a second start is refused naming the holder; a dead holder's lock is
taken over; the lock goes when the training ends."""
import json
import os
import socket
import subprocess
import sys

import pytest

from biglogit import BiglogitError
from biglogit.workdir_lock import LOCK_FILE, WorkdirLock


def test_second_holder_is_refused_with_host_and_pid(tmp_path):
  with WorkdirLock(str(tmp_path)) as first:
    assert first.held and (tmp_path / LOCK_FILE).exists()
    with pytest.raises(BiglogitError, match=f"in use by a training on host {socket.gethostname()} pid {os.getpid()}"):
      WorkdirLock(str(tmp_path)).acquire()
  assert not (tmp_path / LOCK_FILE).exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  (tmp_path / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
  with WorkdirLock(str(tmp_path)) as lock:
    assert lock.held
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_lock_of_another_host_is_reported_not_taken(tmp_path):
  (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "elsewhere", "pid": 1}))
  with pytest.raises(BiglogitError, match="host elsewhere pid 1.*delete"):
    WorkdirLock(str(tmp_path)).acquire()
  assert json.loads((tmp_path / LOCK_FILE).read_text())["host"] == "elsewhere"  # left as it was


def test_training_refuses_a_locked_workdir_before_writing(tiny_config, tmp_path):
  from biglogit import train
  (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "elsewhere", "pid": 1}))
  with pytest.raises(BiglogitError, match="in use by a training on host elsewhere"):
    train.train_and_evaluate(tiny_config, str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == [LOCK_FILE]  # no config.json, no checkpoint


def test_every_entry_point_that_runs_the_training_loop_takes_the_lock():
  """The class, not the two trainers known today: any module that calls training_loop.run (the loop
  that writes checkpoints into a workdir) also takes WorkdirLock (walks the source)."""
  import ast
  import glob
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  runners, unlocked = [], []
  for path in glob.glob(os.path.join(repo, "biglogit", "**", "*.py"), recursive=True):
    names = {ast.unparse(n.func) for n in ast.walk(ast.parse(open(path).read(), path)) if isinstance(n, ast.Call)}
    if "training_loop.run" in names:
      runners.append(os.path.basename(path))
      if "workdir_lock.WorkdirLock" not in names:
        unlocked.append(os.path.relpath(path, repo))
  assert {"train.py", "fit.py"} <= set(runners) and unlocked == []
