"""train.grad_accum: k micro-batches per update, same update as one batch up to what batch norm does."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from biglogit import BiglogitError, config_schema, sharding, steps
from biglogit import preflight
from biglogit import trainer as trainer_lib
from biglogit import state as state_lib
from tests.conftest import toy_arrays

BATCH = 16


def _setup(config, k):
  c = config.copy_and_resolve_references()
  c.train.global_batch, c.train.grad_accum = BATCH, k
  c.train.d_steps = 1  # one D update shows what two would; half the program to compile
  generator, discriminator = state_lib.build_models(c.model, c.method, c.deepsim.hidden)
  g_tx, d_tx = state_lib.build_optimizers(c.train)
  state = jax.jit(functools.partial(state_lib.init_state, config=c, generator=generator,
                                    discriminator=discriminator, g_tx=g_tx, d_tx=d_tx))(jax.random.key(0))
  arrays = toy_arrays(c.train.d_steps * BATCH, seed=3)
  batch = {name: arrays[name].reshape((c.train.d_steps, BATCH) + arrays[name].shape[1:])
           for name in ("image", "logits")}
  step = jax.jit(functools.partial(steps.train_step, generator=generator, discriminator=discriminator,
                                   g_tx=g_tx, d_tx=d_tx, config=c))
  return c, generator, discriminator, state, batch, step


def _assert_close(a, b, scale=1e-4, what=""):
  """Equal to float rounding: within `scale` of the array's largest magnitude (summing 16 rows in one
  go or as 4 sums of 4 rounds differently, element by element)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  assert np.abs(a - b).max() <= scale * max(np.abs(a).max(), 1e-8), (what, np.abs(a - b).max(), np.abs(a).max())


class _FrozenStatistics:
  """A model whose batch norms use their running averages and whose spectral norms keep their
  vectors, also in training mode: what makes an update independent of how the batch is split."""

  def __init__(self, module):
    self.module = module

  def apply(self, variables, *args, train, mutable=False, **kw):
    out = self.module.apply(variables, *args, train=False, **kw)
    return (out, {"batch_stats": variables["batch_stats"]}) if mutable else out


def test_with_statistics_frozen_four_micro_batches_make_the_update_of_one_batch(tiny_config, monkeypatch):
  original_generate, original_pass = steps.generate, steps.discriminator_pass
  monkeypatch.setattr(steps, "generate", lambda generator, *a: original_generate(_FrozenStatistics(generator), *a))
  monkeypatch.setattr(steps, "discriminator_pass",
                      lambda discriminator, *a, **kw: original_pass(_FrozenStatistics(discriminator), *a, **kw))
  grads, states, metrics, start = {}, {}, {}, None
  for k in (1, 4):
    c, generator, discriminator, state, batch, step = _setup(tiny_config, k)
    # the G objective's gradient at the start (before Adam, which turns rounding into +-lr where a
    # true gradient is 0), and the whole step
    inputs = {"real": steps.images_to_float(batch["image"][-1]), "logits": batch["logits"][-1],
              "eps": steps.sample_eps(jax.random.key(1), BATCH, c.model.dim_z)}
    objective = functools.partial(steps.generator_objective, generator=generator, discriminator=discriminator,
                                  d_variables={"params": state.d_params, "batch_stats": state.d_stats},
                                  config=c, comparator=None, phi=None, aux={})
    (_, _), grads[k] = jax.jit(lambda p, s, i: steps.accumulate(objective, p, s, i, jax.random.key(2), k))(
        state.g_params, state.g_stats, inputs)
    states[k], metrics[k] = jax.device_get(step(state, batch, {}))
    start = state
  for a, b in zip(jax.tree.leaves(grads[1]), jax.tree.leaves(grads[4])):
    _assert_close(a, b, what="G's gradient")
  for name in metrics[1]:
    _assert_close(metrics[1][name], metrics[4][name], what=name)
  for part in ("d_params", "g_stats", "d_stats"):  # D's update to rounding; the statistics did not move
    for a, b in zip(jax.tree.leaves(getattr(states[1], part)), jax.tree.leaves(getattr(states[4], part))):
      _assert_close(a, b, what=part)
  moved = [np.abs(a - b).max() for a, b in zip(jax.tree.leaves(states[1].g_params), jax.tree.leaves(start.g_params))]
  assert max(moved) > 0  # G did take a step


def test_with_live_statistics_each_micro_batch_is_normalised_by_its_own(tiny_config):
  """As docs/scaling.md says: the k=4 gradient is the mean of the four micro-batches' gradients, each
  under its own batch statistics, with the running statistics advanced once per micro-batch (in
  order); it differs from k=1's, whose statistics span the whole batch."""
  c, generator, discriminator, state, batch, _ = _setup(tiny_config, 4)
  inputs = {"real": steps.images_to_float(batch["image"][0]), "logits": batch["logits"][0],
            "eps": steps.sample_eps(jax.random.key(1), BATCH, c.model.dim_z)}
  objective = functools.partial(steps.discriminator_objective, generator=generator, discriminator=discriminator,
                                g_params=state.g_params, config=c)
  rng = jax.random.key(2)
  stats = (state.d_stats, state.g_stats)
  accumulated = jax.jit(lambda k: steps.accumulate(objective, state.d_params, stats, inputs, rng, k),
                        static_argnums=0)
  (loss4, (stats4, _)), grads4 = accumulated(4)
  (loss1, _), grads1 = accumulated(1)
  by_hand, by_hand_stats, losses = [], stats, []
  one = jax.jit(jax.value_and_grad(objective, has_aux=True))
  for j, micro_rng in enumerate(jax.random.split(rng, 4)):
    micro = {name: value[j::4] for name, value in inputs.items()}  # rows j, j + 4, ...
    (loss, (by_hand_stats, _)), grads = one(state.d_params, by_hand_stats, micro, micro_rng)
    by_hand.append(grads)
    losses.append(loss)
  mean = jax.tree.map(lambda *g: sum(g) / 4, *by_hand)
  for a, b in zip(jax.tree.leaves(grads4), jax.tree.leaves(mean)):
    _assert_close(a, b, what="D's gradient")
  for a, b in zip(jax.tree.leaves(stats4), jax.tree.leaves(by_hand_stats)):
    _assert_close(a, b, what="statistics")
  _assert_close(loss4, np.mean(losses), what="loss")
  apart = max(np.abs(a - b).max() / (np.abs(a).max() + 1e-12)
              for a, b in zip(jax.tree.leaves(grads1), jax.tree.leaves(grads4)))
  assert apart > 1e-3  # not rounding: G's batch norm saw 16 rows in one, 4 in the other


def test_micro_batches_keep_each_devices_rows_and_the_step_runs_sharded(tiny_config):
  rows = np.arange(64)
  micro = np.asarray(steps.micro_batches(jnp.asarray(rows), 4))
  per_device = rows.reshape(8, 8)  # 8 devices, 8 contiguous rows each
  for j in range(4):
    assert sorted(micro[j]) == sorted(per_device[:, j::4].ravel())  # 2 rows of every device
    np.testing.assert_array_equal(micro[j].reshape(8, 2), per_device[:, j::4])
  c = tiny_config.copy_and_resolve_references()
  c.train.global_batch, c.train.grad_accum, c.train.d_steps = 32, 4, 1
  mesh = sharding.make_mesh()
  trainer = trainer_lib.build_trainer(c, mesh)
  state = trainer.init(jax.random.key(0))
  arrays = toy_arrays(c.train.d_steps * 32, seed=1)
  batch = {n: arrays[n].reshape((c.train.d_steps, 32) + arrays[n].shape[1:]) for n in ("image", "logits")}
  state, metrics = trainer.run_step(state, sharding.to_global(batch, mesh, batch_axis=1))
  assert int(state.step) == 1 and all(np.isfinite(float(v)) for v in jax.device_get(metrics).values())


@pytest.mark.parametrize("batch, k, message", [
    (16, 3, "does not divide train.global_batch=16"),
    (16, 0, "train.grad_accum"),
    (16, 4, "does not divide the 2 rows of each of the 8 devices")])
def test_a_split_that_does_not_fit_is_refused_before_compiling(tiny_config, batch, k, message):
  c = tiny_config.copy_and_resolve_references()
  c.train.global_batch, c.train.grad_accum = batch, k
  with pytest.raises(BiglogitError, match=message):
    config_schema.check(c)
    preflight.validate_config(c, sharding.make_mesh())
