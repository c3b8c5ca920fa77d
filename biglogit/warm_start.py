"""train.init_from=DIR: a new run that starts from another run's weights instead of a random init.

DIR is a training workdir (its latest checkpoint) or a release written by python -m biglogit.export.
What is carried over (train.init_parts):
  weights  G's and D's weights and statistics (spectral-norm vectors, batch norm); the EMA of G starts
           as the source's EMA; the optimisers start fresh (Adam's moments of another objective
           would push the first steps the old way)
  all      weights, and the optimisers' states as well: the source's run continued under a new name
A release holds only the EMA generator: G and its EMA start from it and D starts from its random init
(with init_parts=weights; 'all' is refused). The new run's step count, training clock, data order and
resume guard start fresh; where it came from is recorded in run_history.json and in its model card.
Architecture (checkpointing.architecture_signature) and conditioning (method, release format,
normalisation) must match the source's; statistics of another logits dataset are the new run's own.
Once the run has a checkpoint of its own, a restart resumes it and init_from is not read again.
"""
import json
import os

import jax
import numpy as np
from absl import logging
from etils import epath

from biglogit import BiglogitError
from biglogit import checkpointing
from biglogit import config_schema
from biglogit import inverter as inverter_lib
from biglogit import state as state_lib

def _source_config(source: str):
  path = epath.Path(source) / "config.json"
  if not path.exists():
    raise BiglogitError(f"train.init_from={source!r} holds no config.json; point it at a biglogit.main "
                        "workdir or a biglogit.export release")
  return config_schema.upgrade(json.loads(path.read_text()))


def is_release(source: str) -> bool:
  return (epath.Path(source) / "generator").is_dir() and not (epath.Path(source) / "checkpoints").is_dir()


def check(config):
  """One-line refusals before anything is built: the source exists and matches this run."""
  t = config.train
  source, parts = t.init_from, t.init_parts
  if not source:
    return None
  if not epath.Path(source).is_dir():
    raise BiglogitError(f"train.init_from={source!r} is not a folder; give a training workdir or a release")
  theirs = _source_config(source)
  if is_release(source) and parts != "weights":
    raise BiglogitError(f"train.init_from={source!r} is a release (the EMA generator only): use "
                        "train.init_parts=weights, or a training workdir for 'all'")
  mine_sig, their_sig = checkpointing.architecture_signature(config), checkpointing.architecture_signature(theirs)
  diff = sorted(k for k in set(mine_sig) | set(their_sig) if mine_sig.get(k) != their_sig.get(k))
  if diff:
    k = diff[0]
    raise BiglogitError(f"train.init_from={source!r} has another architecture ({k}: {their_sig.get(k)!r} there, "
                        f"{mine_sig.get(k)!r} here); start from a run of the same model, method and release")
  norm = lambda c: c.conditioning.normalize
  if norm(theirs) != norm(config):
    raise BiglogitError(f"train.init_from={source!r} was trained with conditioning.normalize={norm(theirs)!r}, "
                        f"this run uses {norm(config)!r}; set --config.conditioning.normalize={norm(theirs)}")
  return theirs


def apply(config, fresh_state, mesh):
  """The state this run starts from: `fresh_state` (its own random init) with the source's parts."""
  source, parts = config.train.init_from, config.train.init_parts
  theirs = check(config)
  if is_release(source):
    restored = inverter_lib.restore_generator_on_this_host(os.path.abspath(os.path.join(source, "generator")))
    # two placements, two sets of buffers: the step donates the state, and a buffer in two leaves of
    # a donated pytree would be freed twice
    g, ema = (_placed_like(restored["params"], fresh_state.g_params) for _ in range(2))
    stats = _placed_like(restored["batch_stats"], fresh_state.g_stats)
    logging.info("warm start from release %s: G and its EMA from the release, D from its random init", source)
    return fresh_state.replace(g_params=g, g_stats=stats, ema_params=ema)
  checkpointer = checkpointing.Checkpointer(source, theirs.keep_checkpoints,
                                            checkpointing.architecture_signature(theirs))
  step = checkpointer.latest_step()
  if step is None:
    raise BiglogitError(f"train.init_from={source!r} has no checkpoint yet; train it first or give a release")
  src = checkpointer.restore(step, state_lib.abstract_state(theirs, mesh))
  checkpointer.close()
  carried = dict(g_params=src.g_params, g_stats=src.g_stats, d_params=src.d_params, d_stats=src.d_stats,
                 ema_params=src.ema_params)
  if parts == "all":
    carried.update(g_opt=src.g_opt, d_opt=src.d_opt)
  logging.info("warm start from %s step %d (%s)", source, step, parts)
  return fresh_state.replace(**carried)


def _placed_like(tree, like):
  """`tree`'s values with `like`'s dtypes and shardings (a release may store bfloat16 on one device)."""
  # through host memory: a device_put of a device array may share its buffer, and the step donates
  return jax.tree_util.tree_map(lambda x, l: jax.device_put(np.asarray(x).astype(l.dtype), l.sharding),
                                tree, like)


def describe(config) -> str:
  """For run_history.json and the model card ('' when the run started from a random init)."""
  source = config.train.init_from
  if not source:
    return ""
  return f"warm start from {source} ({config.train.init_parts})"
