"""Trivial inverters that every result must beat, scored by the same evaluation as a trained one.

  constant        mid-grey, whatever the logits: what knowing nothing scores
  mean            the per-pixel mean image of the training split
  class_mean      the training split's mean image of phi's predicted class (argmax z): everything a
                  label-only release gives away. The classes' means group the training images by
                  their true labels (class_mean_by="label"), or by phi's own prediction on them
                  ("prediction": for data whose labels are not phi's classes, e.g. CIFAR-10 through
                  an ImageNet classifier)
  nearest_logits  the training image whose logits are nearest to the query's (cosine or L2): a
                  non-parametric inverter that needs no training, only the released training logits

None of them sees the query image; class_mean and nearest_logits see only its logits.
"""
import dataclasses
from typing import Dict, Sequence

import numpy as np

from biglogit import BiglogitError
from biglogit import config_schema
from biglogit.data import pipeline

KINDS = config_schema.BASELINE_KINDS
DISTANCES = config_schema.GAN["eval.nearest_distance"].choices
CLASS_MEAN_BY = config_schema.GAN["eval.class_mean_by"].choices
# What each baseline reads of the query, for the record's `release` field.
READS = {"constant": "nothing", "mean": "nothing", "class_mean": "top-1 label (argmax z)",
         "nearest_logits": "full logits"}


@dataclasses.dataclass
class Reference:
  """The training split as the baselines use it."""
  images: np.ndarray  # uint8 [M, H, W, 3]
  logits: np.ndarray  # float32 [M, nc]
  labels: np.ndarray  # int [M]


def load_reference(dataset: str, split: str, data_dir: str = "", limit: int = 0) -> Reference:
  """The first `limit` examples of the split (all of it for limit=0), in index order."""
  ex = pipeline.fixed_examples(dataset, split, data_dir, limit or None)
  return Reference(ex["image"], ex["logits"].astype(np.float32), ex["label"].astype(np.int64))


def parse_kinds(spec) -> Sequence[str]:
  kinds = [k.strip() for k in (spec.split(",") if isinstance(spec, str) else spec) if k.strip()]
  unknown = [k for k in kinds if k not in KINDS]
  if unknown:
    raise BiglogitError(f"unknown baseline kind(s) {unknown}; use any of {', '.join(KINDS)}")
  return kinds


def nearest_rows(queries, keys, distance: str, chunk: int = 512) -> np.ndarray:
  """Index of the nearest key row for every query row (cosine: largest cosine; l2: smallest L2)."""
  if distance not in DISTANCES:
    raise BiglogitError(f"nearest-logits distance {distance!r}; use one of {', '.join(DISTANCES)}")
  q = np.asarray(queries, np.float64)
  k = np.asarray(keys, np.float64)
  if distance == "cosine":
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    k = k / np.maximum(np.linalg.norm(k, axis=1, keepdims=True), 1e-12)
  k_sq = (k * k).sum(1)
  out = []
  for s in range(0, len(q), chunk):
    dots = q[s:s + chunk] @ k.T
    out.append(np.argmax(dots, 1) if distance == "cosine" else np.argmin(k_sq[None] - 2.0 * dots, 1))
  return np.concatenate(out) if out else np.zeros((0,), np.int64)


def class_means(reference: Reference, num_classes: int, by: str = "label") -> np.ndarray:
  """[num_classes, H, W, 3] float [0, 1]; a class without training images gets the overall mean."""
  if by not in CLASS_MEAN_BY:
    raise BiglogitError(f"class_mean_by={by!r}; use one of {', '.join(CLASS_MEAN_BY)}")
  groups = reference.labels if by == "label" else reference.logits.argmax(-1)
  x = reference.images.astype(np.float64) / 255.0
  overall = x.mean(0)
  means = np.repeat(overall[None], num_classes, axis=0)
  for c in np.unique(groups):
    if 0 <= c < num_classes:
      means[c] = x[groups == c].mean(0)
  return means.astype(np.float32)


def reconstruct(kind: str, reference: Reference, logits, distance: str = "cosine",
                class_mean_by: str = "label") -> np.ndarray:
  """The baseline's x_hat for each row of logits, float [0, 1] NHWC."""
  logits = np.asarray(logits, np.float32)
  n, shape = len(logits), reference.images.shape[1:]
  if kind == "constant":
    return np.full((n,) + shape, 0.5, np.float32)
  if kind == "mean":
    mean = reference.images.astype(np.float64).mean(0) / 255.0
    return np.broadcast_to(mean.astype(np.float32), (n,) + shape).copy()
  if kind == "class_mean":
    return class_means(reference, logits.shape[1], class_mean_by)[logits.argmax(-1)]
  if kind == "nearest_logits":
    return reference.images[nearest_rows(logits, reference.logits, distance)].astype(np.float32) / 255.0
  raise BiglogitError(f"unknown baseline kind {kind!r}; use one of {', '.join(KINDS)}")


def evaluate_baselines(evaluator, examples, reference: Reference, kinds: Sequence[str],
                       distance: str = "cosine", class_mean_by: str = "label") -> Dict[str, Dict]:
  """{kind: metrics summary} of each baseline on the same held-out examples as an inverter."""
  out = {}
  for kind in kinds:
    x_hat = reconstruct(kind, reference, examples["logits"], distance, class_mean_by)
    out[kind] = evaluator.score(examples["x"], x_hat, examples["logits"], examples["label"])[0]
  return out


def for_config(config, evaluator, examples) -> Dict[str, Dict]:
  """The baselines named in config.eval.baselines, on the examples an inverter is evaluated on,
  with the run's training split as their reference (runs saved before baselines existed get all)."""
  e = config.eval
  kinds = parse_kinds(e.baselines)
  if not kinds:
    return {}
  reference = load_reference(config.data.dataset, config.data.train_split, config.data.data_dir,
                             e.baseline_reference_examples)
  return evaluate_baselines(evaluator, examples, reference, kinds, e.nearest_distance,
                            e.class_mean_by)
