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


def test_in_memory_split_gives_the_same_batches_and_refuses_what_does_not_fit(toy_dataset):
  import pytest
  from biglogit import BiglogitError
  source, _ = dataset_lib.open_split(toy_dataset, "train")
  kwargs = dict(seed=3, per_process_batch=8, d_steps=2, process_index=0, process_count=1)
  on_disk = pipeline.train_dataset(source, **kwargs)
  in_memory = pipeline.train_dataset(source, in_memory=True, **kwargs)
  for step in (0, 1, 7, 30):  # 30 is past the first epoch
    for field in ("image", "logits"):
      np.testing.assert_array_equal(in_memory[step][field], on_disk[step][field])
  # 96 toy examples of 32x32x3 bytes + 10 float32 logits: 298,752 bytes decoded.
  with pytest.raises(BiglogitError, match="in_memory=False"):
    pipeline.load_in_memory(source, max_bytes=298_751)
  assert len(pipeline.load_in_memory(source, max_bytes=298_752)) == 96


def test_benchmark_times_the_input_pipeline_alone(tiny_config):
  from biglogit.perf import benchmark
  tiny_config.data.in_memory = True
  rate = benchmark.input_pipeline_rate(tiny_config, batches=5)
  per_batch = tiny_config.train.global_batch * max(1, tiny_config.train.d_steps)
  assert rate["input_batches_per_s"] > 0
  assert np.isclose(rate["input_images_per_s"], rate["input_batches_per_s"] * per_batch)


def test_worker_processes_read_the_thread_iterators_batches_and_checkpoint_the_same_position(toy_dataset, tmp_path):
  """data.worker_count: Grain's worker processes give the batches of the read threads, in order, and
  a checkpoint's data position (saved from either) resumes either, with any worker count."""
  import jax
  import jax.numpy as jnp
  from biglogit import checkpointing, grain_input
  source, _ = dataset_lib.open_split(toy_dataset, "train")
  ds = pipeline.train_dataset(source, seed=3, per_process_batch=8, d_steps=2, process_index=0, process_count=1)
  threads = [b["logits"] for _, b in zip(range(8), grain_input.iterate(ds, 2, 2))]
  workers = grain_input.iterate(ds, 2, 2, workers=2)
  for expected in threads[:3]:
    np.testing.assert_array_equal(next(workers)["logits"], expected)
  state = {"w": jnp.arange(3, dtype=jnp.float32)}
  target = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
  saved_by_threads = grain_input.iterate(ds, 2, 2)
  for _ in range(5):
    next(saved_by_threads)
  for step, saved in ((1, workers), (2, saved_by_threads)):  # at batch 3 and at batch 5
    ckpt = checkpointing.Checkpointer(str(tmp_path), 3, {})
    ckpt.save(step, state, saved)
    ckpt.close()
    at = 3 if step == 1 else 5
    for resumed in (grain_input.iterate(ds, 2, 2), grain_input.iterate(ds, 1, 2, workers=1)):
      checkpointing.Checkpointer(str(tmp_path), 3, {}).restore(step, target, resumed)
      np.testing.assert_array_equal(next(resumed)["logits"], threads[at], err_msg=f"{step} {type(resumed)}")
      np.testing.assert_array_equal(next(resumed)["logits"], threads[at + 1])
      if isinstance(resumed, grain_input.WorkerIterator):
        resumed.close()
  workers.close()


def test_training_reads_through_worker_processes_and_resumes_without_them(tiny_config, tmp_path):
  """The real entry point spawns the workers (under its __main__ guard) and its checkpoint resumes
  with read threads alone, at the same data position."""
  from tests.conftest import launch_main, logged_steps
  workdir = tmp_path / "run"
  proc = launch_main(workdir, tiny_config.data.dataset, "--config.train.num_steps=2", "--config.data.worker_count=2",
                     "--config.eval.every=0", "--config.eval.at_end=False")
  assert proc.wait(timeout=300) == 0
  proc = launch_main(workdir, tiny_config.data.dataset, "--config.train.num_steps=3", "--config.data.worker_count=0",
                     "--config.eval.every=0", "--config.eval.at_end=False")
  assert proc.wait(timeout=300) == 0
  assert sorted(logged_steps(workdir)) == [1, 2, 3]
