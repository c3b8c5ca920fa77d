"""What G and D are fed of a logit vector z: c = n(release(z)), the one place where that is decided.

Why normalise: the projection discriminator's consistency term (W2 z)^T psi(x) and G's batch-norm MLPs
grow with ||z||, and raw logits have norms of 9-21 on CIFAR-10 (results/conditioning/). The label-only
control, fed a one-hot vector of norm 1, drew far better images at the same budget.

conditioning.normalize:
  standardize  per dimension, by the training split's mean and std of the released vector, then scaled
               by 1/sqrt(C) so that E||c||^2 = 1 whatever the number of classes C: the norm of the
               one-hot control, and 1000 ImageNet logits are not fed at norm 31.
               c = (release(z) - mean) / (std * sqrt(C)). The statistics are computed when the logits
               dataset is built (metadata "conditioning_stats", one entry per release format, on the
               released vectors), copied into the run's config.json (conditioning.mean / .std) at the
               start of training, and so travel with every checkpoint and export.
  unit_norm    c = release(z) / ||release(z)||: no statistics (the alternative measured against it).
  none         c = release(z): the paper, and every run and export from before this key (their
               config.json has no conditioning section and keeps working unchanged).
Callers always pass raw logits: training, evaluation, the experiments, logit edits, the notebook and
Inverter.reconstruct all reach G through `apply` below.
"""
import math
from typing import Callable, Dict, Mapping, Optional

import jax.numpy as jnp
import numpy as np
from absl import logging

from biglogit import BiglogitError
from biglogit import config_schema
from biglogit.data import release

NORMALIZERS = config_schema.GAN["conditioning.normalize"].choices
METADATA_KEY = "conditioning_stats"
# Release formats whose statistics every logits dataset carries (the leakage sweep's and more);
# another format's are computed from the training split when a run starts.
STANDARD_RELEASES = ({"kind": "full"}, {"kind": "softmax"}, {"kind": "topk", "k": 5}, {"kind": "top1"},
                     {"kind": "rounded", "decimals": 2}, {"kind": "rounded", "decimals": 1})
_MIN_STD = 1e-6  # a constant dimension (e.g. a rounded probability that is always 0) is only centred


def compute_stats(logits, release_cfg) -> Dict[str, list]:
  """Mean and std per dimension of the released vectors of `logits` [N, C] (float64 accumulation).
  Rows with a non-finite value are left out (a fixture written with allow_non_finite=True has some;
  training refuses such rows when it meets them)."""
  logits = np.asarray(logits, np.float32)
  logits = logits[np.isfinite(logits).all(axis=-1)]
  if not len(logits):
    raise BiglogitError("no finite logit vector to compute the conditioning statistics from; rebuild the "
                        "dataset with python -m biglogit.data.make_logits")
  released = np.asarray(release.apply(release_cfg, logits), np.float64)
  std = released.std(axis=0)
  std = np.where(std < _MIN_STD, 1.0, std)
  return {"mean": [float(v) for v in released.mean(axis=0)], "std": [float(v) for v in std]}


def dataset_stats(logits, split: str) -> Dict:
  """What a logits dataset stores in its metadata: statistics of every standard release format."""
  logits = np.asarray(logits, np.float32)
  formats = {}
  for spec in map(lambda s: release.Release(**s), STANDARD_RELEASES):
    if spec.kind == "topk" and spec.k >= logits.shape[-1]:
      continue  # top-k of k >= C is the full vector
    formats[release.key(spec)] = compute_stats(logits, spec)
  return {"split": split, "count": int(len(logits)), "formats": formats}


def settings(config):
  """The config's conditioning section, or None for configs from before it (treated as 'none')."""
  return config.get("conditioning") if hasattr(config, "get") else None


def resolve(config, metadata: Mapping, train_logits: Callable[[], np.ndarray]) -> Optional[str]:
  """Fills conditioning.mean/std for normalize='standardize' (in place) from the dataset's stored
  statistics of this release format, or, where the dataset has none for it (built before they were
  stored, another training split, an unusual top-k), from `train_logits()` now. Statistics already in
  the config (a resumed run's, or the user's) are kept. Returns where they came from, for the log."""
  c = settings(config)
  if c is None or c.normalize != "standardize":
    return None
  if c.get("mean"):
    return "config"
  key = release.key(config.release)
  stored = dict(metadata or {}).get(METADATA_KEY) or {}
  found = stored.get("formats", {}).get(key) if stored.get("split") == config.data.train_split else None
  source = f"dataset metadata ({stored.get('split')} split, {stored.get('count')} examples)"
  if found is None:
    logits = np.asarray(train_logits(), np.float32)
    found = compute_stats(logits, config.release)
    source = f"computed now from split {config.data.train_split!r} ({len(logits)} examples)"
    logging.info("logits dataset has no %s statistics for release %s: %s", METADATA_KEY, key, source)
  c.mean, c.std = list(found["mean"]), list(found["std"])
  return source


def apply(config, logits):
  """Raw logits [..., C] -> what G and D see (float32, same shape): n(release(z)). Works under jit
  (the statistics are constants of the traced program)."""
  released = release.apply(config.release, logits)
  c = settings(config)
  if c is None or c.normalize == "none":
    return released
  if c.normalize == "unit_norm":
    norm = jnp.linalg.norm(released, axis=-1, keepdims=True)
    return released / jnp.maximum(norm, 1e-6)
  # "standardize" (the normaliser's spelling is config_schema's to check)
  if not c.get("mean"):
    raise BiglogitError("conditioning.normalize='standardize' but the config holds no statistics; load the "
                        "inverter from its training workdir or export (whose config.json has them)")
  num_classes = released.shape[-1]
  mean = jnp.asarray(c.mean, jnp.float32)
  scale = jnp.asarray(c.std, jnp.float32) * math.sqrt(num_classes)
  return (released - mean) / scale


def describe(config) -> str:
  c = settings(config)
  if c is None or c.normalize == "none":
    return "raw (not normalised)"
  if c.normalize == "unit_norm":
    return "scaled to unit norm"
  return "standardised per dimension by the training split's mean and std, times 1/sqrt(C)"
