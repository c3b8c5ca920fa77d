"""A newcomer's first hour, as tests: the README's main command from a clean copy of the repository
ends with its summary, and the README's Python example runs as written."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, main_env

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _clean_copy(dest):
  """What a clone holds: the tracked files and the new ones git does not ignore (no data_out/,
  workdirs/ or caches), as the working tree has them."""
  listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                          check=True, capture_output=True).stdout.decode().split("\0")
  for rel in filter(None, listed):
    src = os.path.join(REPO, rel)
    if os.path.isfile(src):
      os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
      with open(src, "rb") as f, open(os.path.join(dest, rel), "wb") as g:
        g.write(f.read())
  return dest


def _toy_cifar_folder(root):
  """split/<CIFAR-10 class>/<file>.png: 8 training and 2 test images per class."""
  from PIL import Image
  rng = np.random.default_rng(0)
  for split, n in (("train", 8), ("test", 2)):
    for name in CIFAR10_CLASSES:
      os.makedirs(os.path.join(root, split, name))
      for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
            os.path.join(root, split, name, f"{i}.png"))
  return root


def _readme_main_command():
  first = open(os.path.join(REPO, "README.md")).read().splitlines()[:60]
  line = next(l.strip() for l in first if l.startswith("    ") and "python -m biglogit.main" in l)
  return line.split("&& ", 1)[1]  # after the install


def test_the_readme_main_command_from_a_clean_copy_ends_with_its_summary(tmp_path):
  repo = _clean_copy(str(tmp_path / "clone"))
  toy = _toy_cifar_folder(str(tmp_path / "toy"))
  command = _readme_main_command()
  assert command.startswith("python -m biglogit.main --config=configs/cifar10.py:resnet4b,quickstart")
  args = command.split()[3:]
  args = [a for a in args if not a.startswith("--config.data.source=")] + [
      f"--config.data.source={toy}", "--config.train.num_steps=2", "--config.eval.num_examples=8",
      "--config.train.global_batch=16"]
  env = main_env(1)
  env["PYTHONPATH"] = repo  # the copy's biglogit, not the working tree's
  done = subprocess.run([sys.executable, "-m", "biglogit.main", *args], cwd=repo, env=env, capture_output=True,
                        text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  out = done.stdout
  assert "finished step 2 in workdirs/quickstart" in out
  for line in ("  checkpoints: workdirs/quickstart/checkpoints", "  image grids: workdirs/quickstart/images",
               "  evaluation: workdirs/quickstart/eval/metrics.md (step 2, 8 held-out examples)"):
    assert line in out, out
  assert re.search(r"^    psnr \d+\.\d{3} \[\d+\.\d{3}, \d+\.\d{3}\]   class-mean baseline \d+\.\d{3}, "
                   r"nearest logits \d+\.\d{3}$", out, re.M), out
  assert "runs/cifar10/resnet4b" in open(os.path.join(repo, "workdirs", "quickstart", "config.json")).read()
  assert os.path.isdir(os.path.join(repo, "data_out", "logits_dataset", "cifar10_resnet4b"))  # built, as promised


def test_the_readme_python_example_runs_as_written():
  text = open(os.path.join(REPO, "README.md")).read()
  block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
  namespace = {}
  cwd = os.getcwd()
  os.chdir(REPO)  # the example's paths are relative to the repository, as the README says
  try:
    exec(compile(block, "README.md", "exec"), namespace)
  finally:
    os.chdir(cwd)
  x, z, x_hat = namespace["x"], namespace["z"], namespace["x_hat"]
  assert z.shape == (2, 10) and x_hat.shape == x.shape == (2, 32, 32, 3)
  assert 0 <= x_hat.min() and x_hat.max() <= 1
  assert not np.allclose(namespace["resampled"][0], x_hat)  # new eps, another sample
  assert not np.allclose(namespace["shifted"], x_hat)  # the inverter sees a shift the softmax does not


@pytest.mark.slow
def test_the_readme_main_command_as_written_gives_back_more_than_the_class(tmp_path):
  """The README's main command on the real CIFAR-10 files (about 5 minutes): the fine-tuned 5-hour
  run's reconstructions carry instance information, clear of the class-mean image."""
  source = os.path.join(REPO, "..", "shared", "data", "cifar10-jpeg", "cifar10_jpeg_q75.tar.gz")
  if not os.path.exists(source):
    pytest.skip("needs ../shared/data/cifar10-jpeg (the real CIFAR-10 files)")
  repo = _clean_copy(str(tmp_path / "clone"))
  os.symlink(os.path.join(REPO, "..", "shared"), os.path.join(str(tmp_path), "shared"))
  env = main_env(1)
  env["PYTHONPATH"] = repo
  done = subprocess.run([sys.executable, "-m", "biglogit.main", *_readme_main_command().split()[3:]], cwd=repo,
                        env=env, capture_output=True, text=True, timeout=1500)
  assert done.returncode == 0, done.stderr[-3000:]
  console = done.stdout + done.stderr
  noise = [l for l in console.splitlines() if re.match(r"W\d{4} ", l) or "Warning:" in l]
  assert noise == [], noise  # no warning a user cannot act on
  record = json.load(open(os.path.join(repo, "workdirs", "quickstart", "eval", "metrics.json")))
  gain = record["metrics"]["instance_gain_db"]
  assert gain["ci_low"] > record["baselines"]["class_mean"]["instance_gain_db"]["mean"], gain
