"""PGD L-inf: stays in the eps-ball and [0, 1], and lowers the accuracy of a tiny trained model."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from biglogit.classifiers.pgd import pgd_linf, robust_accuracy
from tests.conftest import compilations, toy_arrays


class Tiny(nn.Module):
  @nn.compact
  def __call__(self, x, train=False):
    return nn.Dense(10)(nn.relu(nn.Dense(32)(x.reshape(x.shape[0], -1))))


def test_pgd_lowers_accuracy_of_trained_model():
  data = toy_arrays(256, resolution=8)
  x = jnp.asarray(data["image"], jnp.float32) / 255
  y = jnp.asarray(data["label"])
  model = Tiny()
  params = model.init(jax.random.key(0), x)
  tx = optax.adam(1e-2)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt):
    loss, g = jax.value_and_grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(
        model.apply(p, x), y).mean())(params)
    updates, opt = tx.update(g, opt, params)
    return optax.apply_updates(params, updates), opt, loss

  for _ in range(300):
    params, opt, loss = step(params, opt)
  clean, adv = robust_accuracy(model, params, np.asarray(x), np.asarray(y), eps=0.1, step_size=0.025,
                               steps=10)
  assert clean > 0.9
  assert adv < clean - 0.3
  x_adv = pgd_linf(lambda v: model.apply(params, v), x, y, eps=0.1, step_size=0.025, steps=10,
                   rng=jax.random.key(1))
  assert float(jnp.max(jnp.abs(x_adv - x))) <= 0.1 + 1e-6
  assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1


def test_robust_accuracy_pads_the_last_batch_compiles_once_and_counts_only_real_examples(caplog):
  data = toy_arrays(5, resolution=8)
  x = np.asarray(data["image"], np.float32) / 255
  model = Tiny()
  params = model.init(jax.random.key(0), x)
  predicted = np.asarray(jnp.argmax(model.apply(params, x), -1))
  labels = predicted.copy()
  labels[[1, 4]] = (labels[[1, 4]] + 1) % 10  # examples 1 and 4 (the padded last batch) wrong
  with jax.log_compiles(True), caplog.at_level("WARNING"):
    clean, adv = robust_accuracy(model, params, x, labels, eps=0.0, step_size=0.0, steps=0,
                                 batch_size=2)  # batches of 2, 2 and 1
  assert clean == adv == 3 / 5
  compiles = compilations(caplog, "evaluate")
  assert len(compiles) == 1, compiles
