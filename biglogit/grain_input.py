"""The Grain input pipeline both trainers share: a source read by index (a TFDS array_record split, or
arrays in memory), the same global permutation on every process, each process reading its block of
every global batch, and a checkpointable iterator. The GAN's logits datasets (data/pipeline.py) and
the classifier trainer's images (classifiers/fit.py) both come through here."""
import json
from typing import Dict

import grain
import jax
import numpy as np
from absl import flags

from biglogit import BiglogitError


def _as_read(example):
  return example


# data.in_memory refuses a split whose decoded arrays would take more than this on each host.
MAX_IN_MEMORY_BYTES = 8 * 2**30


class InMemorySource:
  """A split decoded once into arrays (field -> [N, ...]), read by index like the on-disk source.
  Why: decoding each example's PNG in Python holds the interpreter lock whatever
  data.num_read_threads is, and capped the GPU runs' pace (results/gpu/README.md); from arrays a
  batch is a few small copies."""

  def __init__(self, arrays: Dict[str, np.ndarray]):
    self.arrays = arrays

  def __len__(self):
    return len(next(iter(self.arrays.values())))

  def __getitem__(self, index):
    return {name: values[index] for name, values in self.arrays.items()}


def load_in_memory(source, fields, max_bytes: int = MAX_IN_MEMORY_BYTES,
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


def train_dataset(source, *, fields, seed: int, per_process_batch: int, d_steps: int = 0,
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


def iterate(ds: grain.MapDataset, num_threads: int, prefetch: int, workers: int = 0):
  """A checkpointable iterator over `ds` (checkpointing.Checkpointer saves its position): read by
  `num_threads` threads of this process, or, with workers > 0, by that many worker processes
  (WorkerIterator), in the same order."""
  if workers:
    return WorkerIterator(ds, num_threads, prefetch, workers)
  return iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)))


class WorkerIterator:
  """`ds` read by Grain's worker processes (mp_prefetch), each decoding outside this interpreter's
  lock, which the read threads share. The batches and their order are those of the thread iterator,
  and so is the state a checkpoint saves (the next batch's index, {"next_index": N}): a run may resume
  with another worker count, or none. Worker processes are spawned: a script that builds one must
  do so under `if __name__ == "__main__"`, as biglogit's commands do."""

  def __init__(self, ds: grain.MapDataset, num_threads: int, prefetch: int, workers: int):
    if not flags.FLAGS.is_parsed():  # Grain reads its own absl flags when it starts the workers
      flags.FLAGS.mark_as_parsed()
    self._ds, self._num_threads, self._prefetch, self._workers = ds, num_threads, prefetch, workers
    self._iterator, self._next_index = None, 0
    self._start(0)

  def _start(self, index: int):
    self.close()
    read = grain.ReadOptions(num_threads=self._num_threads, prefetch_buffer_size=self._prefetch)
    self._iterator = iter(self._ds[index:].to_iter_dataset(read).mp_prefetch(
        grain.MultiprocessingOptions(num_workers=self._workers)))
    self._next_index = index

  def __iter__(self):
    return self

  def __next__(self):
    batch = next(self._iterator)
    self._next_index += 1
    return batch

  def get_state(self) -> bytes:
    """What grain.checkpoint saves of an iterator that is not one of its own: bytes, here the JSON
    a thread iterator's state is saved as."""
    return json.dumps({"next_index": self._next_index}, indent=4).encode()

  def set_state(self, state):
    """Bytes from get_state (or a thread iterator's saved state), or its dict (older checkpoints)."""
    state = json.loads(state) if isinstance(state, (bytes, str)) else state
    index = state["next_index"]
    if not isinstance(index, int) or index < 0:
      raise ValueError(f"next_index {index!r} is not a batch index")
    self._start(index)

  def start_prefetch(self):
    """grain.checkpoint calls this after set_state; the workers already started there."""

  def close(self):
    if self._iterator is not None and hasattr(self._iterator, "close"):
      self._iterator.close()
    self._iterator = None
