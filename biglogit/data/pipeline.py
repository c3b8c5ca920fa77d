"""Grain input pipeline over a logits dataset (and the classifier trainer's images): per-process
shards, deterministic for a seed, and a checkpointable iterator (Grain's handler saves its position,
a small JSON dict per process, with every checkpoint)."""
import dataclasses
from typing import Any, Dict, Optional

import os

import grain
import jax
import numpy as np
import tensorflow_datasets as tfds

from biglogit import BiglogitError
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


def _as_read(example):
  return example


# data.in_memory refuses a split whose decoded arrays would take more than this on each host.
MAX_IN_MEMORY_BYTES = 8 * 2**30


class InMemorySource:
  """A split decoded once into arrays (field -> [N, ...]), read by index like the on-disk source.
  Decoding each example's PNG in Python costs about 0.3 ms under one interpreter lock whatever
  data.num_read_threads is, which caps a run at about 3.5 batches of 2x256 per second
  (results/gpu/README.md); from arrays a batch is a few small copies."""

  def __init__(self, arrays: Dict[str, np.ndarray]):
    self.arrays = arrays

  def __len__(self):
    return len(next(iter(self.arrays.values())))

  def __getitem__(self, index):
    return {name: values[index] for name, values in self.arrays.items()}


def load_in_memory(source, fields=_fields, max_bytes: int = MAX_IN_MEMORY_BYTES,
                   chunk: int = 1024) -> InMemorySource:
  """fields(example) of every example of `source`, decoded once into arrays; a split that would not
  fit in max_bytes is refused before the decoding starts."""
  count = len(source)
  first = {name: np.asarray(v) for name, v in fields(source[0]).items()}
  needed = count * sum(v.nbytes for v in first.values())
  if needed > max_bytes:
    raise BiglogitError(f"data.in_memory: the split's {count} examples need {needed / 2**30:.1f} GiB decoded, "
                        f"over the {max_bytes / 2**30:.0f} GiB allowed per host; set "
                        "--config.data.in_memory=False to decode while training")
  arrays = {name: np.empty((count,) + v.shape, v.dtype) for name, v in first.items()}
  for start in range(0, count, chunk):
    indices = list(range(start, min(count, start + chunk)))
    rows = source.__getitems__(indices) if hasattr(source, "__getitems__") else [source[i] for i in indices]
    for offset, row in enumerate(rows):
      for name, value in fields(row).items():
        arrays[name][start + offset] = value
  return InMemorySource(arrays)


def train_dataset(source, *, seed: int, per_process_batch: int, d_steps: int = 0, fields=_fields,
                  process_index: int = None, process_count: int = None,
                  in_memory: bool = False) -> grain.MapDataset:
  """Infinite, reshuffled every epoch; batches of fields(example) shaped [d_steps, per_process_batch,
  ...] ([per_process_batch, ...] for d_steps=0). The GAN's logits datasets and the classifier
  trainer's images both come through here.

  Every process walks the same global permutation; global batch b is its examples
  [b*B, (b+1)*B) and process p reads the contiguous block [b*B + p*per, b*B + (p+1)*per) of it.
  Assembled in process order, the global batch is then the same examples in the same order
  however many hosts share it, so each example meets the same eps and the run is the same.
  in_memory: decode the whole split first (load_in_memory); the batches are the same.
  """
  if in_memory:
    source, fields = load_in_memory(source, fields), _as_read
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  shuffled = grain.MapDataset.source(source).seed(seed).shuffle().repeat(None)
  per, global_batch = per_process_batch, per_process_batch * process_count

  def read(i):
    return shuffled[(i // per) * global_batch + process_index * per + i % per]

  ds = grain.MapDataset.range(len(shuffled) // process_count).map(read).map(fields)
  ds = ds.batch(per_process_batch, drop_remainder=True)
  return ds.batch(d_steps, drop_remainder=True) if d_steps else ds


def iterate(ds: grain.MapDataset, num_threads: int, prefetch: int):
  """A checkpointable iterator over `ds` (checkpointing.Checkpointer saves its position)."""
  return iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)))


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
  return iterate(ds, d.num_read_threads, d.prefetch), spec


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
