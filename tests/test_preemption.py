"""Preemption through the real entry point: SIGTERM saves at the current step and exits 0; kill -9 at
random moments never corrupts the newest checkpoint, and the resumed run retraces the uninterrupted
trajectory bitwise (same data order, same losses, same parameters). Also run-to-run determinism."""
import json
import signal
import time

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from biglogit import BiglogitError, checkpointing, sharding, train
from biglogit import trainer as trainer_lib
from tests.conftest import compilations, launch_main, logged_steps

STEPS, EVERY = 30, 5
SETTINGS = (f"--config.train.num_steps={STEPS}", f"--config.checkpoint_every={EVERY}",
            "--config.log_every=1", "--config.keep_checkpoints=2")


def _wait_for_step(workdir, proc, step, timeout=180):
  start = time.time()
  while time.time() - start < timeout:
    logged = logged_steps(workdir)
    if logged and max(logged) >= step:
      return max(logged)
    if proc.poll() is not None:
      raise AssertionError(f"run ended (code {proc.returncode}) before step {step}")
    time.sleep(0.01)
  raise AssertionError(f"step {step} not reached in {timeout}s")


def _restore(config, workdir, step):
  trainer = trainer_lib.build_trainer(config, sharding.make_mesh())
  ckpt = checkpointing.Checkpointer(str(workdir), 2, checkpointing.architecture_signature(config))
  state = ckpt.restore(step, trainer.abstract_state)
  ckpt.close()
  return state, json.loads((workdir / "checkpoints" / str(step) / "data" / "process_0-of-1.json").read_text())


def _latest(workdir):
  return checkpointing.Checkpointer(str(workdir), 2, {}).latest_step()


@pytest.mark.slow  # six launches of the entry point: about 3 minutes on 2 cores
def test_sigterm_then_kill_9_at_random_moments_resume_the_identical_trajectory(tiny_config, tmp_path):
  dataset = tiny_config.data.dataset
  reference = launch_main(tmp_path / "reference", dataset, *SETTINGS)  # runs alongside
  workdir = tmp_path / "interrupted"

  # SIGTERM (the preemption notice): checkpoint at the current step, exit 0.
  proc = launch_main(workdir, dataset, *SETTINGS)
  _wait_for_step(workdir, proc, 3)
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=60) == 0
  stopped_at = max(logged_steps(workdir))
  assert _latest(workdir) == stopped_at >= 3

  # kill -9 at random later moments: between steps, inside a step, or inside a checkpoint write.
  rng = np.random.default_rng(0)
  for target in sorted(rng.choice(np.arange(stopped_at + 2, STEPS - 1), size=3, replace=False)):
    proc = launch_main(workdir, dataset, *SETTINGS)
    reached = _wait_for_step(workdir, proc, target)
    time.sleep(rng.uniform(0, 0.1))
    completed = _latest(workdir)  # checkpoints finished before the kill
    proc.kill()
    proc.wait()
    latest = _latest(workdir)
    # Only the steps since the last completed checkpoint are lost (a write in flight is dropped) ...
    assert latest is not None and (completed or 0) <= latest <= reached + 1, (reached, completed, latest)
    # ... and the newest checkpoint always loads.
    _restore(tiny_config, workdir, latest)

  proc = launch_main(workdir, dataset, *SETTINGS)
  assert proc.wait(timeout=180) == 0
  assert reference.wait(timeout=180) == 0
  a, b = logged_steps(tmp_path / "reference"), logged_steps(workdir)
  assert sorted(a) == sorted(b) == list(range(1, STEPS + 1))
  for step in a:
    for k in ("d_loss", "g_loss", "d_real", "d_fake"):
      assert a[step][k] == b[step][k], (step, k)
  sa, da = _restore(tiny_config, tmp_path / "reference", STEPS)
  sb, db = _restore(tiny_config, workdir, STEPS)
  assert da == db  # the data iterator is at the same position
  for x, y in zip(jax.tree_util.tree_leaves(jax.device_get(sa)), jax.tree_util.tree_leaves(jax.device_get(sb))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_same_config_and_seed_are_bitwise_deterministic(tiny_config, tmp_path):
  tiny_config.image_every = 0
  tiny_config.train.num_steps = 3
  runs = [train.train_and_evaluate(tiny_config, str(tmp_path / name)) for name in ("a", "b")]
  for x, y in zip(*(jax.tree_util.tree_leaves(jax.device_get(r)) for r in runs)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  la, lb = logged_steps(tmp_path / "a"), logged_steps(tmp_path / "b")
  assert sorted(la) == sorted(lb) == [1, 2, 3] and all(
      la[s][k] == lb[s][k] for s in la for k in ("d_loss", "g_loss", "d_real", "d_fake"))


def test_a_single_process_saves_each_array_from_one_replica_without_slicing_it(tmp_path, caplog):
  """Replicated over the 8 test devices, a state saves and restores without one jitted slice per
  array and device (Orbax's replica-parallel saving, which only multi-host runs keep)."""
  mesh = sharding.make_mesh()
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  state = {"w": jax.device_put(np.arange(24, dtype=np.float32).reshape(8, 3), replicated),
           "b": jax.device_put(np.ones(5, np.float32), replicated)}
  ckpt = checkpointing.Checkpointer(str(tmp_path), 1, {"format_version": checkpointing.FORMAT_VERSION})
  with jax.log_compiles(True), caplog.at_level("WARNING"):
    ckpt.save(1, state, _iterator_at(3))
    ckpt.close()
  assert compilations(caplog, "slice") == []
  target = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), state)
  resumed = _iterator_at(0)
  restored = checkpointing.Checkpointer(str(tmp_path), 1, {}).restore(1, target, resumed)
  assert next(resumed) == 3
  assert all(np.array_equal(restored[k], state[k]) for k in state)


def _iterator_at(position: int):
  iterator = iter(grain.MapDataset.range(10).to_iter_dataset())
  for _ in range(position):
    next(iterator)
  return iterator


def test_the_data_position_is_saved_per_process_by_grain_and_older_checkpoints_still_resume(tmp_path):
  """Grain's Orbax handler writes each process's iterator state (data/process_I-of-N.json); a
  checkpoint from before it (one JSON state in data/metadata) resumes at its position too."""
  state = {"w": jnp.arange(3, dtype=jnp.float32)}
  ckpt = checkpointing.Checkpointer(str(tmp_path), 2, {})
  ckpt.save(1, state, _iterator_at(4))
  ckpt.close()
  data = tmp_path / "checkpoints" / "1" / "data"
  assert [p.name for p in data.glob("*.json")] == ["process_0-of-1.json"]
  target = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
  for saved in ("grain", "legacy"):
    if saved == "legacy":  # what checkpoints of the previous format hold instead
      (data / "metadata").write_text((data / "process_0-of-1.json").read_text())
      (data / "process_0-of-1.json").unlink()
    resumed = _iterator_at(0)
    checkpointing.Checkpointer(str(tmp_path), 2, {}).restore(1, target, resumed)
    assert next(resumed) == 4, saved
  (data / "metadata").unlink()
  (data / "process_0-of-2.json").write_text("{}")
  with pytest.raises(BiglogitError, match=r"^checkpoint step 1 in .* has no data-iterator state for process 0 of 1 "
                                          r"\(it has process_0-of-2.json\); resume with as many processes as "
                                          r"saved it, or use a fresh --workdir$"):
    checkpointing.Checkpointer(str(tmp_path), 2, {}).restore(1, target, _iterator_at(0))


def test_digests_and_the_finiteness_check_agree_on_the_host_and_on_the_device():
  """On the CPU both read the arrays with numpy (nothing to compile); elsewhere the jitted versions
  run. Both give the same digests, which checkpoints written by either must verify with."""
  import jax.numpy as jnp
  mesh = sharding.make_mesh()
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  rng = np.random.default_rng(0)
  tree = {"f32": rng.normal(size=(16, 3)).astype(np.float32), "bf16": jnp.asarray(rng.normal(size=(8,)), jnp.bfloat16),
          "i32": np.arange(-5, 7, dtype=np.int32), "u8": rng.integers(0, 255, (9,), dtype=np.uint8),
          "i8": np.array([-128, -1, 0, 127], np.int8), "flag": np.array([True, False]), "scalar": np.float32(3.5)}
  tree = jax.device_put(tree, replicated)
  assert checkpointing._in_host_memory(tree)
  on_host = checkpointing.state_digest(tree)
  on_device = dict(zip(on_host, (int(v) for v in jax.device_get(checkpointing._leaf_digests(tree)))))
  assert on_host == on_device
  flipped = dict(tree, f32=tree["f32"].at[3, 1].set(np.nextafter(np.float32(tree["f32"][3, 1]), np.float32(9))))
  assert checkpointing.state_digest(flipped)["['f32']"] != on_host["['f32']"]
  assert checkpointing.all_finite(tree) and bool(checkpointing._all_finite_on_device(tree))
  for bad in (np.nan, np.inf):
    broken = dict(tree, bf16=tree["bf16"].at[2].set(bad))
    assert not checkpointing.all_finite(broken) and not bool(checkpointing._all_finite_on_device(broken))
