"""train.init_from: a new run starts from a workdir's or a release's weights, refuses another
architecture in one line, and then resumes like any other run."""
import jax
import numpy as np
import pytest

from biglogit import BiglogitError
from biglogit import export
from biglogit import sharding
from biglogit import state as state_lib
from biglogit import checkpointing
from biglogit import train
from biglogit.inverter import Inverter, load_config


def _config(source_workdir, init_from, **train_overrides):
  c = load_config(source_workdir)
  c.train.init_from = init_from
  c.train.num_steps = 2
  c.train.g_lr = c.train.d_lr = 1e-30  # updates below float32 rounding: the weights stay where they started
  c.eval.every, c.eval.at_end, c.image_every, c.checkpoint_every = 0, False, 0, 2
  for k, v in train_overrides.items():
    c.train[k] = v
  return c


def _state(workdir):
  config = load_config(workdir)
  ckpt = checkpointing.Checkpointer(workdir, 1, checkpointing.architecture_signature(config))
  state = ckpt.restore(ckpt.latest_step(), state_lib.abstract_state(config, sharding.make_mesh()))
  ckpt.close()
  return jax.device_get(state)


def _same(a, b):
  return all(np.allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=1e-6, atol=1e-20)
             for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_warm_start_from_a_workdir_then_resume(inverter_runs, tmp_path):
  source = inverter_runs["gan"]
  new = str(tmp_path / "finetune")
  train.train_and_evaluate(_config(source, source), new)
  theirs, mine = _state(source), _state(new)
  assert int(mine.step) == 2  # its own step count, not the source's
  assert _same(mine.g_params, theirs.g_params) and _same(mine.d_params, theirs.d_params)
  assert source in open(f"{new}/run_history.json").read()  # where it came from (its config at each start)
  # a restart resumes its own checkpoint and no longer reads the source (here: gone)
  resumed = _config(source, str(tmp_path / "moved_away"))
  resumed.train.num_steps = 4
  train.train_and_evaluate(resumed, new, allow_changed_resume=True)
  assert int(_state(new).step) == 4


def test_warm_start_from_a_release_takes_g_and_leaves_d_fresh(inverter_runs, tmp_path):
  release = str(tmp_path / "release")
  export.export(inverter_runs["gan"], release, "2 CPU cores")
  new = str(tmp_path / "from_release")
  train.train_and_evaluate(_config(inverter_runs["gan"], release), new)
  mine, theirs = _state(new), _state(inverter_runs["gan"])
  assert _same(mine.g_params, Inverter.load(release).params)
  assert not _same(mine.d_params, theirs.d_params)
  with pytest.raises(BiglogitError, match="init_parts=weights"):
    train.train_and_evaluate(_config(inverter_runs["gan"], release, init_parts="all"), str(tmp_path / "x"))


def test_another_architecture_or_conditioning_is_refused_before_work(inverter_runs, tmp_path):
  source = inverter_runs["gan"]
  wider = _config(source, source)
  wider.model.ch_g = wider.model.ch_g * 2
  with pytest.raises(BiglogitError, match="another architecture"):
    train.train_and_evaluate(wider, str(tmp_path / "a"))
  other = _config(source, source)
  other.conditioning.normalize = "unit_norm"
  with pytest.raises(BiglogitError, match="conditioning.normalize"):
    train.train_and_evaluate(other, str(tmp_path / "b"))
  for bad, match in (({"init_parts": "optimiser"}, "init_parts"), ({}, "not a folder")):
    c = _config(source, str(tmp_path / "nowhere"), **bad)
    with pytest.raises(BiglogitError, match=match):
      train.train_and_evaluate(c, str(tmp_path / "c"))
  assert not (tmp_path / "a").exists() or not any((tmp_path / "a").rglob("*.json"))
