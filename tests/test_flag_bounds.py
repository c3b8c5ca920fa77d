"""Every number a user types has declared bounds: each integer and float flag of every entry point (read
from the source, so a flag added anywhere is caught, in `if __name__ == "__main__"` blocks and flag
helpers too) and each integer environment variable."""
import ast
import glob
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(glob.glob(os.path.join(REPO, "biglogit", "**", "*.py"), recursive=True) +
                 glob.glob(os.path.join(REPO, "launch", "*.py")))
NUMBER_FLAGS = ("DEFINE_integer", "DEFINE_float", "DEFINE_multi_integer", "DEFINE_multi_float")


def _number_flags(path):
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Call):
      name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
      if name in NUMBER_FLAGS:
        flag = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else "?"
        yield flag, {k.arg for k in node.keywords}, node.lineno


def test_the_scan_sees_the_flags():
  found = [f for path in SOURCES for f, _, _ in _number_flags(path)]
  assert {"num_examples", "store_resolution", "best_of", "batch_size", "num_processes"} <= set(found)
  assert len(found) > 50


@pytest.mark.parametrize("path", SOURCES, ids=[os.path.relpath(p, REPO) for p in SOURCES])
def test_every_number_flag_declares_both_bounds(path):
  unbounded = [f"{flag} (line {line})" for flag, keywords, line in _number_flags(path)
               if not {"lower_bound", "upper_bound"} <= keywords]
  assert not unbounded, f"integer/float flags without lower_bound and upper_bound: {unbounded}"


def test_no_environment_variable_is_parsed_outside_cli_env_int():
  """int(os.environ...) would be a traceback on 'abc': every integer variable goes through
  cli.env_int, which refuses it in one line."""
  offenders = []
  for path in SOURCES:
    with open(path) as f:
      tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
      if (isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("int", "float") and node.args and
          "os.environ" in ast.unparse(node.args[0])):
        offenders.append(f"{os.path.relpath(path, REPO)}:{node.lineno}")
  assert offenders == []


@pytest.mark.parametrize("env,message", [
    ({"BIGLOGIT_NUM_PROCESSES": "abc"}, "environment variable BIGLOGIT_NUM_PROCESSES='abc'; use an integer from 1"),
    ({"BIGLOGIT_PROCESS_ID": "-3"}, "environment variable BIGLOGIT_PROCESS_ID='-3'; use an integer from 0"),
    ({"SLURM_NTASKS": "abc"}, "environment variable SLURM_NTASKS='abc'; use an integer from 1"),
])
def test_a_bad_environment_variable_is_one_line_with_exit_2(tmp_path, env, message):
  out = subprocess.run([sys.executable, "-m", "biglogit.main", "--config=configs/tiny.py",
                        f"--workdir={tmp_path / 'run'}"], cwd=REPO, capture_output=True, text=True, timeout=300,
                       env={**os.environ, **env})
  assert out.returncode == 2, out.stderr[-2000:]
  assert out.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
  assert not (tmp_path / "run").exists()
