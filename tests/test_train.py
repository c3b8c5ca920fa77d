"""The sharded training step, resume, learning on a toy task, NaN stop."""
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from biglogit import BiglogitError, sharding, steps, train
from biglogit import trainer as trainer_lib
from biglogit.losses import mismatch_loss
from biglogit import state as state_lib
from tests.conftest import toy_arrays


def _batch(config, seed=0):
  t = config.train
  arrays = toy_arrays(t.d_steps * t.global_batch, seed=seed)
  shape = lambda a: a.reshape((t.d_steps, t.global_batch) + a.shape[1:])
  return {"image": shape(arrays["image"]), "logits": shape(arrays["logits"])}


def test_sharded_step_equals_single_device_step(tiny_config):
  """Batch statistics under jit span the global batch: 8-way data parallel == 1 device.

  Losses are compared over two steps, the whole state after the first. After that, float rounding
  alone moves the state apart: a conv bias in front of a batch norm has a true gradient of zero,
  so its computed gradient is rounding noise, and Adam's first update turns any gradient into
  +-lr whatever its size. Which way it goes depends on the reduction order, which the device count
  changes (measured: up to 7x the tolerance after step 2 in the optimiser moments, under 0.3x
  after step 1).
  """
  assert jax.device_count() == 8
  results = []
  for devices in (jax.devices()[:1], jax.devices()):
    mesh = sharding.make_mesh(devices)
    trainer = trainer_lib.build_trainer(tiny_config, mesh)
    state = trainer.init(jax.random.key(0))
    losses, first_state = [], None
    for i in range(2):
      batch = sharding.to_global(_batch(tiny_config, seed=i), mesh, batch_axis=1)
      state, m = trainer.run_step(state, batch)
      losses.append(jax.device_get(m))
      first_state = jax.device_get(state) if first_state is None else first_state
    results.append((losses, first_state))
  (l1, s1), (l8, s8) = results
  for a, b in zip(l1, l8):
    for k in a:
      np.testing.assert_allclose(a[k], b[k], rtol=2e-4, atol=2e-4)
  for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s8)):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=2e-3, atol=2e-4)
  # and the BN running stats really moved (so the comparison covers cross-replica BN)
  stats = [v for p, v in jax.tree_util.tree_flatten_with_path(s8.g_stats)[0] if "mean" in jax.tree_util.keystr(p)]
  assert any(np.abs(np.asarray(v)).max() > 0 for v in stats)


def test_indivisible_batch_fails_before_compiling(tiny_config, tmp_path):
  tiny_config.train.global_batch = 12  # 8 devices
  with pytest.raises(BiglogitError, match="not divisible by the 8 devices"):
    train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_toy_training_lowers_reconstruction_error(tiny_config, tmp_path):
  c = tiny_config
  c.image_every = 0
  c.checkpoint_every = 1000
  c.train.num_steps = 40
  c.train.global_batch = 16
  c.train.d_steps = 1
  c.train.g_lr = 1e-3
  c.train.d_lr = 2e-3
  c.train.ema_start = 10_000  # compare the trained G itself
  mesh = sharding.make_mesh()
  trainer = trainer_lib.build_trainer(c, mesh)
  untrained = trainer.init(jax.random.key(c.seed))
  held_out = toy_arrays(32, seed=7)

  def error(state):
    eps = steps.sample_eps(jax.random.key(3), 32, c.model.dim_z)
    x_hat = trainer.reconstruct(state.g_params, state.g_stats, jnp.asarray(held_out["logits"]), eps)
    return float(jnp.mean((x_hat - steps.images_to_float(jnp.asarray(held_out["image"]))) ** 2))

  trained = train.train_and_evaluate(c, str(tmp_path / "run"))
  before, after = error(untrained), error(trained)
  assert after < 0.7 * before, (before, after)


def test_nan_stops_with_step_and_keeps_last_good_checkpoint(tiny_config, tmp_path):
  from biglogit.data import dataset as dataset_lib
  arrays = toy_arrays(64)
  arrays["logits"][10] = np.nan  # one poisoned example somewhere in the shuffled stream
  with pytest.raises(BiglogitError, match="split .train. has non-finite logits in 1 row"):
    dataset_lib.write_numpy_dataset(str(tmp_path / "data"), "nan", {"train": arrays})
  path = dataset_lib.write_numpy_dataset(str(tmp_path / "data"), "nan", {"train": arrays},
                                         allow_non_finite=True)
  c = tiny_config
  c.data.dataset = str(path)
  c.data.eval_split = ""
  c.image_every = 0
  c.checkpoint_every = 1
  c.train.num_steps = 40
  with pytest.raises(BiglogitError, match=r"non-finite logits in the training data at step (\d+)") as info:
    train.train_and_evaluate(c, str(tmp_path / "run"))
  bad_step = int(re.search(r"at step (\d+)", str(info.value)).group(1))
  assert "stopped before that step" in str(info.value) and "make_logits" in str(info.value)
  ckpts = sorted(int(p) for p in os.listdir(tmp_path / "run" / "checkpoints") if p.isdigit())
  assert ckpts and ckpts[-1] == bad_step - 1
  # the last good checkpoint still restores; asking for no more steps than it holds trains nothing
  c.train.num_steps = bad_step - 1
  assert train.train_and_evaluate(c, str(tmp_path / "run")) is None
  c.train.num_steps = bad_step - 2
  with pytest.raises(BiglogitError, match=f"already holds step {bad_step - 1}, past train.num_steps"):
    train.train_and_evaluate(c, str(tmp_path / "run"))
  from biglogit import checkpointing
  trainer = trainer_lib.build_trainer(c, sharding.make_mesh())
  ckpt = checkpointing.Checkpointer(str(tmp_path / "run"), 2, checkpointing.architecture_signature(c))
  state = ckpt.restore(bad_step - 1, trainer.abstract_state)
  ckpt.close()
  assert int(state.step) == bad_step - 1
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(state.g_params))


def test_sigterm_while_a_step_logs_still_checkpoints_that_stop(tiny_config, tmp_path, monkeypatch):
  """The preemption notice can land at any point of a step, e.g. while it writes its log line (the
  moment a supervisor watching the log would send it): the run still saves where it stops."""
  import signal
  from biglogit import checkpointing, train_logs
  c = tiny_config
  c.image_every, c.checkpoint_every, c.log_every, c.train.num_steps = 0, 100, 1, 8
  create_writer = train_logs.create_writer

  def writer_that_gets_sigterm_at_step_2(*args, **kwargs):
    writer = create_writer(*args, **kwargs)
    write_scalars = writer.write_scalars

    def write(step, scalars):
      write_scalars(step, scalars)
      if step == 2 and "d_loss" in scalars:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, mid-bookkeeping
    writer.write_scalars = write
    return writer

  monkeypatch.setattr(train.train_logs, "create_writer", writer_that_gets_sigterm_at_step_2)
  train.train_and_evaluate(c, str(tmp_path / "run"))
  latest = checkpointing.Checkpointer(str(tmp_path / "run"), 1, {}).latest_step()
  assert latest == 2  # the step logs before it reads the notice: it saved there and stopped
  assert not (tmp_path / "run" / "eval" / "metrics.json").exists()


def test_a_finished_run_ends_with_a_summary_of_where_things_are(inverter_runs, capsys):
  from biglogit import train_logs
  summary = train_logs.run_summary(inverter_runs["gan"], 4, 4)
  lines = summary.splitlines()
  assert lines[0] == f"finished step 4 in {inverter_runs['gan']}"
  assert lines[1] == f"  checkpoints: {inverter_runs['gan']}/checkpoints"
  # eval/metrics.md if a test has evaluated the run by now, else its periodic evaluation at step 4
  evaluation = [l for l in lines if l.startswith("  evaluation: ")]
  assert evaluation[0] in (f"  evaluation: {inverter_runs['gan']}/eval/metrics.md (step 4, 16 held-out examples)",
                           f"  evaluation: {inverter_runs['gan']}/eval/metrics_step_00000004.md (step 4, 16 "
                           "held-out examples)")
  psnr = [l for l in lines if l.strip().startswith("psnr ")]
  assert len(psnr) == 1 and "class-mean baseline" in psnr[0]
  assert train_logs.run_summary(inverter_runs["gan"], 2, 4).startswith("stopped at step 2 of 4 (rerun to resume)")


def test_ema_copies_g_before_ema_start_and_averages_after():
  g = {"w": jnp.full((3,), 2.0), "b": jnp.full((2,), -1.0)}
  zero = jax.tree_util.tree_map(jnp.zeros_like, g)
  copied = steps.ema_update(zero, g, jnp.int32(4), ema_start=5, ema_decay=0.9)
  for a, b in zip(jax.tree_util.tree_leaves(copied), jax.tree_util.tree_leaves(g)):
    np.testing.assert_array_equal(a, b)
  ema = zero
  for step in range(5, 15):  # ten averaging steps towards a constant G: 1 - 0.9**10 of the way
    ema = steps.ema_update(ema, g, jnp.int32(step), ema_start=5, ema_decay=0.9)
  np.testing.assert_allclose(ema["w"], 2.0 * (1 - 0.9**10), rtol=1e-5)
  np.testing.assert_allclose(ema["b"], -1.0 * (1 - 0.9**10), rtol=1e-5)


def _discriminator_and_batch(c):
  """An initialised D of the config, 8 toy real images with their logits, and 8 noise 'fakes'."""
  _, discriminator = state_lib.build_models(c.model, c.method, c.deepsim.hidden)
  arrays = toy_arrays(8)
  real = steps.images_to_float(arrays["image"])
  logits = jnp.asarray(arrays["logits"])
  fake = jax.random.uniform(jax.random.key(1), real.shape, minval=-1, maxval=1)
  d_vars = jax.jit(lambda k: discriminator.init({"params": k}, real, logits, train=True))(jax.random.key(0))
  return discriminator, d_vars, real, fake, logits


def test_mismatch_term_judges_real_images_with_their_neighbours_logits_as_fake(tiny_config):
  """train.mismatch_weight: L_D gains w * E[max(-1, D(x_i, z_{i-1}))], from the same D pass as the
  real and fake terms, which it leaves as they were."""
  c = tiny_config
  discriminator, d_vars, real, fake, logits = _discriminator_and_batch(c)
  loss_fn = jax.jit(steps.discriminator_pass, static_argnums=(0, 6))
  plain = loss_fn(discriminator, d_vars["params"], d_vars["batch_stats"], real, fake, logits, 0.0)
  matched = loss_fn(discriminator, d_vars["params"], d_vars["batch_stats"], real, fake, logits, 1.5)
  mismatched = jax.jit(lambda z: discriminator.apply(d_vars, real, z, train=True, mutable=["batch_stats"])[0])(
      jnp.roll(logits, 1, axis=0))
  assert "d_mismatch" not in plain[1][3]
  np.testing.assert_allclose(matched[1][1:3], plain[1][1:3], rtol=1e-5)  # real and fake terms unchanged
  np.testing.assert_allclose(matched[1][3]["d_mismatch"], np.mean(mismatched), rtol=1e-5)
  np.testing.assert_allclose(matched[0], plain[0] + 1.5 * mismatch_loss(mismatched), rtol=1e-5)
  assert not np.allclose(matched[0], plain[0])


def test_diff_augment_shows_d_the_augmented_images_in_its_loss_and_trains(tiny_config, monkeypatch):
  """train.diff_augment: D's loss is computed on the augmented real and fake images (one draw for
  the whole D batch); the step augments what D sees in each D update and in G's update, and runs
  finite."""
  from biglogit import augment
  c = tiny_config
  discriminator, d_vars, real, fake, logits = _discriminator_and_batch(c)
  policy = augment.parse_policy("translation,cutout")
  aug = lambda images: augment.diff_augment(jax.random.key(2), images, policy)
  loss_fn = jax.jit(steps.discriminator_pass, static_argnums=(0, 6, 7))
  augmented = loss_fn(discriminator, d_vars["params"], d_vars["batch_stats"], real, fake, logits, 0.0, aug)
  both = aug(jnp.concatenate([real, fake]))
  by_hand = loss_fn(discriminator, d_vars["params"], d_vars["batch_stats"], both[:8], both[8:], logits, 0.0)
  np.testing.assert_allclose(augmented[0], by_hand[0], rtol=1e-5)
  plain = loss_fn(discriminator, d_vars["params"], d_vars["batch_stats"], real, fake, logits, 0.0)
  assert not np.allclose(augmented[0], plain[0])

  c = c.copy_and_resolve_references()
  c.train.diff_augment = "color,translation,cutout"
  augmented_batches = []  # the batch size of every image batch augmented while the step is traced
  real_diff_augment = augment.diff_augment

  def recording(rng, images, policy):
    augmented_batches.append((images.shape[0], policy))
    return real_diff_augment(rng, images, policy)

  monkeypatch.setattr(steps.augment, "diff_augment", recording)
  mesh = sharding.make_mesh(jax.devices())
  trainer = trainer_lib.build_trainer(c, mesh)
  state = trainer.init(jax.random.key(0))
  state, m = trainer.run_step(state, sharding.to_global(_batch(c), mesh, batch_axis=1))
  m = jax.device_get(m)
  assert all(np.isfinite(v) for v in m.values()), m
  assert int(state.step) == 1
  b, policy = c.train.global_batch, ("color", "translation", "cutout")
  # each D update sees real + fake together, then G's update sees its fakes
  assert augmented_batches == [(2 * b, policy)] * c.train.d_steps + [(b, policy)]
