"""The input pipeline's sharding: processes read contiguous blocks of each global batch."""
import numpy as np

from biglogit.data import dataset as dataset_lib
from biglogit.data import pipeline


def test_process_shards_concatenate_to_the_single_process_batch(toy_dataset):
  source, _ = dataset_lib.open_split(toy_dataset, "train")
  single = pipeline.train_dataset(source, seed=3, per_process_batch=8, d_steps=2, process_index=0,
                                  process_count=1)
  shards = [pipeline.train_dataset(source, seed=3, per_process_batch=4, d_steps=2, process_index=p,
                                   process_count=2) for p in range(2)]
  for step in (0, 1, 7, 30):  # 30 is past the first epoch (96 examples, 16 per step)
    whole = single[step]["logits"]
    parts = np.concatenate([s[step]["logits"] for s in shards], axis=1)
    np.testing.assert_array_equal(parts, whole)
  # Epochs are reshuffled, and a different seed gives a different order.
  assert not np.array_equal(single[0]["logits"], single[6]["logits"])
  other = pipeline.train_dataset(source, seed=4, per_process_batch=8, d_steps=2, process_index=0,
                                 process_count=1)
  assert not np.array_equal(other[0]["logits"], single[0]["logits"])
