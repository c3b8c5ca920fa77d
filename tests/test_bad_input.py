"""Bad input: a clear one-line error before compiling, and nothing written to the workdir."""
import os
import subprocess
import sys

import pytest

from biglogit import BiglogitError, train
from biglogit.data import dataset as dataset_lib
from tests.conftest import REPO, toy_arrays


def _fails(config, workdir, match):
  with pytest.raises(BiglogitError, match=match) as info:
    train.train_and_evaluate(config, str(workdir))
  assert "\n" not in str(info.value)
  return info


def test_missing_dataset(tiny_config, tmp_path):
  tiny_config.data.dataset = str(tmp_path / "nowhere")
  _fails(tiny_config, tmp_path / "run", "no finished logits dataset")
  assert not (tmp_path / "run").exists()


def test_split_smaller_than_a_batch(tiny_config, tmp_path):
  # (TFDS itself refuses to write an empty split, so "too small" is the reachable case.)
  path = dataset_lib.write_numpy_dataset(str(tmp_path / "d"), "small", {"train": toy_arrays(4)})
  tiny_config.data.dataset = str(path)
  _fails(tiny_config, tmp_path / "run", "fewer than one batch")
  assert not (tmp_path / "run").exists()


def test_logits_length_and_image_size_mismatch(tiny_config, tmp_path):
  tiny_config.model.num_classes = 100
  _fails(tiny_config, tmp_path / "run", "10 logits per example but model.num_classes=100")
  tiny_config.model.num_classes = 10
  tiny_config.model.resolution = 64
  _fails(tiny_config, tmp_path / "run", "32x32 images but model.resolution=64")
  assert not (tmp_path / "run").exists()


def test_checkpoint_of_other_architecture(tiny_config, tmp_path, monkeypatch):
  tiny_config.train.num_steps = 1
  tiny_config.image_every = 0
  monkeypatch.chdir(tmp_path)  # a relative --workdir, as the README's command uses
  train.train_and_evaluate(tiny_config, "run")
  before = sorted(os.listdir(tmp_path / "run" / "checkpoints"))
  tiny_config.model.ch_g = 8
  _fails(tiny_config, tmp_path / "run", r"different architecture \(ch_g: checkpoint 4 vs config 8\)")
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == before


def test_unknown_config_key_is_one_line(tmp_path):
  out = subprocess.run([sys.executable, "-m", "biglogit.main", "--config=configs/tiny.py",
                        f"--workdir={tmp_path / 'run'}", "--config.model.chg=3"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
  assert out.returncode == 2
  assert "unknown config key 'chg'" in out.stderr.strip().splitlines()[-1]
  assert not (tmp_path / "run").exists()
