"""Bad input: a clear one-line error before compiling, and nothing written to the workdir."""
import os
import re

import numpy as np
import pytest

from biglogit import BiglogitError, train
from biglogit.data import dataset as dataset_lib
from tests.conftest import flip_bytes_in_array_files, toy_arrays


def _fails(config, workdir, match):
  """match: a regex the message must contain (None: the caller checks the message itself)."""
  with pytest.raises(BiglogitError, match=match) as info:
    train.train_and_evaluate(config, str(workdir))
  assert "\n" not in str(info.value)
  return info


def test_missing_dataset(tiny_config, tmp_path):
  tiny_config.data.dataset = str(tmp_path / "nowhere")
  _fails(tiny_config, tmp_path / "run", "no finished logits dataset")
  assert not (tmp_path / "run").exists()


def test_dataset_whose_build_was_killed(tiny_config, tmp_path):
  # What kill -9 of make_logits leaves: TFDS's temporary folder, never renamed to 1.0.0.
  os.makedirs(tmp_path / "data" / "logits_dataset" / "toy" / "incomplete.X1Y2_1.0.0")
  tiny_config.data.dataset, tiny_config.data.data_dir = "toy", str(tmp_path / "data")
  _fails(tiny_config, tmp_path / "run", "interrupted while being built .* rerun python -m biglogit.data.make_logits")
  assert not (tmp_path / "run").exists()


def test_unwritable_and_full_workdir(tiny_config, tmp_path, monkeypatch):
  (tmp_path / "a_file").write_text("")
  _fails(tiny_config, tmp_path / "a_file" / "run", "is not writable")
  import shutil
  from collections import namedtuple
  usage = namedtuple("usage", "total used free")
  monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
  _fails(tiny_config, tmp_path / "run", r"MiB free but a checkpoint needs about .* free space or pick another")


def test_checkpoint_write_error_is_one_line_and_keeps_the_previous(tiny_config, tmp_path, monkeypatch):
  import errno
  from biglogit import checkpointing
  tiny_config.image_every = 0
  real_save = checkpointing.ocp.CheckpointManager.save

  def disk_full_at_step_4(self, step, *args, **kwargs):
    if step == 4:
      raise OSError(errno.ENOSPC, "No space left on device")
    return real_save(self, step, *args, **kwargs)

  monkeypatch.setattr(checkpointing.ocp.CheckpointManager, "save", disk_full_at_step_4)
  _fails(tiny_config, tmp_path / "run", r"checkpoint step 4 .*no space left on the device.*\(step 2\) is intact")
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["2"]


def test_newer_checkpoint_format_and_unloadable_checkpoint(tiny_config, tmp_path):
  import json
  tiny_config.train.num_steps = 2
  tiny_config.image_every = 0
  train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  meta = tmp_path / "run" / "checkpoints" / "2" / "meta" / "metadata"
  signature = json.loads(meta.read_text())
  meta.write_text(json.dumps({**signature, "format_version": 99}))
  tiny_config.train.num_steps = 4
  _fails(tiny_config, tmp_path / "run", "format_version 99, newer than this biglogit reads")
  meta.write_text(json.dumps(signature))
  # Damage the saved arrays: an error naming the checkpoint, never a fresh start over it.
  for root, _, files in os.walk(tmp_path / "run" / "checkpoints" / "2" / "state"):
    for name in files:
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"garbage")
  _fails(tiny_config, tmp_path / "run", "exists but failed to load .* not restarting from step 0")
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["2"]


def test_split_smaller_than_a_batch(tiny_config, tmp_path):
  # (TFDS itself refuses to write an empty split, so "too small" is the reachable case.)
  path = dataset_lib.write_numpy_dataset(str(tmp_path / "d"), "small", {"train": toy_arrays(4)})
  tiny_config.data.dataset = str(path)
  _fails(tiny_config, tmp_path / "run", "fewer than one batch")
  assert not (tmp_path / "run").exists()


def test_logits_length_and_image_size_mismatch(tiny_config, tmp_path):
  tiny_config.conditioning.mean, tiny_config.conditioning.std = [], []  # as a user's config: filled from the data
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


# (override, the exact one-line message): every value the loop divides by, counts with or puts into
# the state, refused before anything is compiled or written (the schema's words, config_schema.py; its
# own tests walk every key).
BAD_CONFIG_VALUES = [
    ("keep_checkpoints", 0, "keep_checkpoints=0; use an integer from 1 to 1000"),
    ("checkpoint_every", 0, "checkpoint_every=0; use an integer from 1 to 1,000,000,000"),
    ("image_every", -5, "image_every=-5; use an integer from 0 to 1,000,000,000"),
    ("train.global_batch", -8, "train.global_batch=-8; use an integer from 1 to 1,048,576"),
    ("train.d_steps", 0, "train.d_steps=0; use an integer from 1 to 100"),
    ("train.g_lr", float("nan"), "train.g_lr=nan; use a finite number above 0 (e.g. 1e-4)"),
    ("train.adam_eps", -1e-8, "train.adam_eps=-1e-08; use a finite number above 0 (e.g. 1e-6)"),
    ("train.ema_decay", 2.0, "train.ema_decay=2.0; use a finite number in [0, 1) (e.g. 0.999)"),
    ("train.mismatch_weight", -0.5, "train.mismatch_weight=-0.5; use a finite number of at least 0"),
    ("eval.baselines", "constant,mode", "eval.baselines='constant,mode': 'mode' is not one; use a comma-separated "
                                        "subset of constant, mean, class_mean, nearest_logits, or '' for none"),
    ("eval.nearest_distance", "manhattan", "eval.nearest_distance='manhattan'; use one of 'cosine', 'l2'"),
    ("model.cond_hidden", 0, "model.cond_hidden=0; use an integer from 1 to 8192"),
    ("data.prefetch", -1, "data.prefetch=-1; use an integer from 1 to 1024"),
    ("data.dataset", "", "data.dataset is empty; set it to a logits dataset's name (under data.data_dir) "
                         "or folder"),
]


@pytest.mark.parametrize("key,value,message", BAD_CONFIG_VALUES,
                         ids=[f"{k}={v!r}" for k, v, _ in BAD_CONFIG_VALUES])
def test_bad_config_value_is_one_line_before_anything_is_written(tiny_config, tmp_path, key, value, message):
  section, _, name = key.rpartition(".")
  setattr(tiny_config[section] if section else tiny_config, name, value)
  info = _fails(tiny_config, tmp_path / "run", None)
  assert str(info.value) == message
  assert not (tmp_path / "run").exists()


def test_resume_past_num_steps_is_refused_and_a_finished_run_says_so(tiny_config, tmp_path, capsys):
  tiny_config.train.num_steps = 2
  tiny_config.image_every = 0
  train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  config_json = (tmp_path / "run" / "config.json").read_bytes()
  assert train.train_and_evaluate(tiny_config, str(tmp_path / "run")) is None
  assert "already finished" in capsys.readouterr().out
  tiny_config.train.num_steps = 1
  _fails(tiny_config, tmp_path / "run", r"already holds step 2, past train.num_steps=1; raise")
  assert (tmp_path / "run" / "config.json").read_bytes() == config_json
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["2"]


def test_resume_with_another_trajectory_is_refused_unless_allowed(tiny_config, tmp_path):
  import json
  tiny_config.train.num_steps = 2
  tiny_config.image_every = 0
  run = tmp_path / "run"
  train.train_and_evaluate(tiny_config, str(run))
  before = {name: (run / name).read_bytes() for name in ("config.json", "run_history.json")}
  tiny_config.train.num_steps = 3
  tiny_config.seed = 1
  tiny_config.train.g_lr = 2e-4
  _fails(tiny_config, run, r"^resuming .* at step 2 with a different trajectory: seed 0 -> 1, "
                           r"train.g_lr 0.0001 -> 0.0002; use the original settings .* --allow_changed_resume")
  assert {name: (run / name).read_bytes() for name in before} == before
  assert sorted(os.listdir(run / "checkpoints")) == ["2"]
  # Allowed, with changes the compiled step does not see (the refusal above comes before anything
  # compiles; resuming with a new learning rate compiled a second step: 43-48 s of the suite).
  tiny_config.train.g_lr = 1e-4
  tiny_config.data.train_split = "test"
  train.train_and_evaluate(tiny_config, str(run), allow_changed_resume=True)
  history = json.loads((run / "run_history.json").read_text())
  assert [s["step"] for s in history["starts"]] == [0, 2]
  # Each start names its machine: the hours of a run's budget are steps at that machine's speed.
  from biglogit import host
  for start in history["starts"]:
    assert start["cpu"] == host.cpu_model() and start["cpu"].endswith(f", {os.cpu_count()} cores")
    assert re.fullmatch(r"[1-9][0-9]* x cpu", start["devices"]), start["devices"]
  allowed = history["starts"][1]["trajectory_changes_allowed"]
  assert sorted(allowed) == ["data.train_split", "dataset_identity", "seed"]
  assert allowed["seed"] == [0, 1] and allowed["data.train_split"] == ["train", "test"]
  assert history["starts"][1]["config_changes"]["train.num_steps"] == [2, 3]
  assert json.loads((run / "config.json").read_text())["seed"] == 1


def test_flipped_bytes_in_a_checkpoint_are_caught_and_the_older_step_offered(tiny_config, tmp_path):
  tiny_config.train.num_steps = 4
  tiny_config.checkpoint_every = 2
  tiny_config.image_every = 0
  run = tmp_path / "run"
  train.train_and_evaluate(tiny_config, str(run))
  flip_bytes_in_array_files(run / "checkpoints" / "4" / "state")
  tiny_config.train.num_steps = 6
  _fails(tiny_config, run, r"checkpoint step 4 in .* exists but (has \d+ array\(s\) that differ from their "
                           r"saved digest|failed to load).* rerun to resume from step 2, the newest older "
                           r"checkpoint that verifies$")
  assert sorted(os.listdir(run / "checkpoints")) == ["2", "4"]


def test_edited_data_iterator_state_is_one_line_and_keeps_the_checkpoint(tiny_config, tmp_path):
  import json
  tiny_config.train.num_steps = 2
  tiny_config.image_every = 0
  run = tmp_path / "run"
  train.train_and_evaluate(tiny_config, str(run))
  state_file = run / "checkpoints" / "2" / "data" / "process_0-of-1.json"  # Grain's handler, one per process
  state_file.write_text(json.dumps({**json.loads(state_file.read_text()), "next_index": -3}))
  before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
  tiny_config.train.num_steps = 4
  _fails(tiny_config, run, r"^checkpoint step 2 in .* has a data-iterator state that does not fit this dataset "
                           r"\(IndexError: .*-3.*\); resume from an older step or use a fresh --workdir$")
  assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_damaged_export_is_refused_by_the_loader_the_notebook_uses(inverter_runs, tmp_path):
  from biglogit import export
  from biglogit.inverter import Inverter
  out = export.export(inverter_runs["gan"], str(tmp_path / "release"), hardware="2 CPU cores")
  assert Inverter.load(out).step == Inverter.load_export(out).step  # one loader for both kinds
  data_files = [p for p in (tmp_path / "release" / "generator").rglob("*") if p.is_file() and p.parent.name == "d"]
  target = max(data_files, key=lambda p: p.stat().st_size)
  data = bytearray(target.read_bytes())
  data[len(data) // 2] ^= 0x01  # one flipped bit in an array
  target.write_bytes(bytes(data))
  with pytest.raises(BiglogitError, match=r"release is damaged: 1 file\(s\) of generator/ differ from "
                                          r"generator_sha256.json \(first: generator/.*/d/.*export it again"):
    Inverter.load(out)


def test_16_bit_png_is_scaled_not_saturated():
  import io
  from PIL import Image
  from biglogit import image_sources
  ramp = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)  # 0 .. 65472
  buffer = io.BytesIO()
  Image.fromarray(ramp).save(buffer, "PNG")
  with Image.open(io.BytesIO(buffer.getvalue())) as img:
    assert img.mode.startswith("I")
    pixels = image_sources.apply_policy(img, 32, 32)
  expected = np.round(ramp / 65535.0 * 255).astype(np.uint8)
  np.testing.assert_array_equal(pixels[..., 0], expected)
  assert (pixels == 255).mean() < 0.01  # Pillow's convert("RGB") would make 99.6% of it 255


def test_a_failure_on_one_process_stops_every_process(monkeypatch):
  """What the workdir lock and the data check rely on: process 1 of 2, whose own part succeeded,
  learns that process 0 failed (a busy workdir) and stops too, instead of waiting in a collective."""
  from jax.experimental import multihost_utils
  from biglogit import sharding
  monkeypatch.setattr(sharding.jax, "process_count", lambda: 2)
  monkeypatch.setattr(multihost_utils, "process_allgather", lambda flag: np.array([1, int(flag)]))
  with pytest.raises(BiglogitError, match=r"^the workdir lock could not be taken on process\(es\) \[0\] of 2 "
                                          r"\(see those processes' logs\)$"):
    sharding.on_every_process(lambda: "locked", "the workdir lock could not be taken on process(es) "
                              "{processes} of {count} ({error})")
  with pytest.raises(BiglogitError, match=r"^busy \[0, 1\] of 2: workdir in use$"):
    sharding.on_every_process(_raise_busy, "busy {processes} of {count}: {error}")


def _raise_busy():
  raise BiglogitError("workdir in use")
