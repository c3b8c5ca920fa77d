"""Grain input pipeline over a logits dataset (and the classifier trainer's images): per-process
shards, deterministic for a seed, and a checkpointable iterator (Grain's handler saves its position,
a small JSON dict per process, with every checkpoint)."""
import dataclasses
import functools
from typing import Any, Dict, Optional

import os

import jax
import numpy as np
import tensorflow_datasets as tfds

from biglogit import BiglogitError
from biglogit import grain_input
from biglogit.data import dataset as dataset_lib


@dataclasses.dataclass
class DatasetSpec:
  num_examples: int
  num_classes: int
  resolution: int
  metadata: Dict[str, Any]
  class_names: Any


def dataset_spec(builder, split) -> DatasetSpec:
  features = builder.info.features
  label = features["label"]
  names = list(label.names) if getattr(label, "names", None) else None
  return DatasetSpec(num_examples=builder.info.splits[split].num_examples,
                     num_classes=int(features["logits"].shape[0]),
                     resolution=int(features["image"].shape[0]),
                     metadata=dict(builder.info.metadata or {}), class_names=names)


def check_matches_model(spec: DatasetSpec, model_cfg, where: str):
  if spec.num_classes != model_cfg.num_classes:
    raise BiglogitError(f"{where} has {spec.num_classes} logits per example but model.num_classes="
                        f"{model_cfg.num_classes}; set --config.model.num_classes={spec.num_classes}")
  if spec.resolution != model_cfg.resolution:
    raise BiglogitError(f"{where} has {spec.resolution}x{spec.resolution} images but model.resolution="
                        f"{model_cfg.resolution}; use a config for {spec.resolution}px or rebuild the data")


def finite_logits(logits: np.ndarray, where: str, indices: np.ndarray) -> np.ndarray:
  """Logits [N, C] read from a dataset (with the examples' dataset indices), or one line saying where
  NaN/inf sit: make_logits never writes them, so they mean a damaged or hand-made dataset, and would
  otherwise be scored or trained on."""
  bad = ~np.isfinite(logits).all(axis=-1)
  if bad.any():
    raise BiglogitError(f"{where} holds NaN or inf logits in {int(bad.sum())} example(s) (first: index "
                        f"{int(np.min(indices[bad]))}); rebuild the dataset with python -m "
                        "biglogit.data.make_logits, or drop those examples")
  return logits


def _fields(example):  # (non-finite training logits stop the loop at their step: training_loop.py)
  return {"image": np.asarray(example["image"], np.uint8),
          "logits": np.asarray(example["logits"], np.float32)}


# The logits datasets' fields through the generic Grain pipeline (grain_input.py).
train_dataset = functools.partial(grain_input.train_dataset, fields=_fields)
load_in_memory = functools.partial(grain_input.load_in_memory, fields=_fields)


def make_train_iterator(config):
  """(checkpointable iterator, DatasetSpec); checks the dataset against the model config first."""
  d = config.data
  source, builder = dataset_lib.open_split(d.dataset, d.train_split, d.data_dir)
  spec = dataset_spec(builder, d.train_split)
  check_matches_model(spec, config.model, f"dataset {d.dataset!r} split {d.train_split!r}")
  per_process = config.train.global_batch // jax.process_count()
  if spec.num_examples < config.train.global_batch // jax.process_count():
    raise BiglogitError(f"split {d.train_split!r} has {spec.num_examples} examples, fewer than one "
                        f"batch of {per_process}; lower train.global_batch")
  ds = train_dataset(source, seed=config.seed, per_process_batch=per_process,
                     d_steps=config.train.d_steps, in_memory=config.data.in_memory)
  return grain_input.iterate(ds, d.num_read_threads, d.prefetch, d.worker_count), spec


def split_logits(dataset: str, split: str, data_dir: str, count: Optional[int] = None) -> np.ndarray:
  """The first `count` (default: every) logit vectors of a split [N, C], in index order, without
  decoding the images; refused in one line if any is NaN or inf."""
  path = dataset_lib.resolve_dataset_dir(dataset, data_dir)
  builder = tfds.builder_from_directory(os.fspath(path))
  source = builder.as_data_source(split, decoders={"image": tfds.decode.SkipDecoding()})
  count = len(source) if count is None else min(count, len(source))
  rows = [source[i] for i in range(count)]
  return finite_logits(np.stack([np.asarray(r["logits"], np.float32) for r in rows]),
                       f"split {split!r} of dataset {dataset}", np.asarray([int(r["index"]) for r in rows]))


def fixed_examples(dataset: str, split: str, data_dir: str, count):
  """The first `count` examples of a split in index order (all of them for count=None), for image
  grids, evaluation and the baselines' training reference."""
  source, builder = dataset_lib.open_split(dataset, split, data_dir)
  count = len(source) if count is None else min(count, len(source))
  rows = [source[i] for i in range(count)]
  examples = {k: np.stack([np.asarray(r[k]) for r in rows]) for k in ("image", "logits", "label", "index")}
  finite_logits(examples["logits"], f"split {split!r} of dataset {dataset}", examples["index"])
  return examples
