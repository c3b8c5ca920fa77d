"""Projected gradient descent, L-inf (Madry et al. 2018): one reusable, jit-able attack.

Works on any `logits_fn(x) -> logits` with x float RGB in [0, 1]; used for adversarial training,
robust-accuracy evaluation and the adversarial-logits experiments.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from biglogit.images import pad_batch


def pgd_linf(logits_fn, x, labels, *, eps: float, step_size: float, steps: int, rng=None,
             targeted: bool = False):
  """Returns x_adv with ||x_adv - x||_inf <= eps, x_adv in [0, 1].

  Untargeted: ascends the cross-entropy of `labels`; targeted: descends it (labels = targets).
  rng: random start inside the eps-ball (None: start at x).
  """
  sign = -1.0 if targeted else 1.0

  def loss(xa):
    return jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits_fn(xa), labels))

  x_adv = x
  if rng is not None:
    x_adv = jnp.clip(x + jax.random.uniform(rng, x.shape, x.dtype, -eps, eps), 0.0, 1.0)

  def body(_, xa):
    g = jax.grad(loss)(xa)
    xa = xa + sign * step_size * jnp.sign(g)
    return jnp.clip(jnp.clip(xa, x - eps, x + eps), 0.0, 1.0)

  return jax.lax.fori_loop(0, steps, body, x_adv)


def accuracy_evaluator(module, *, eps, step_size, steps):
  """A jitted fn(variables, x, y, rng) -> (correct on x, correct on its PGD image), per example: made
  once and called on equal-sized batches, it compiles once (the training guard calls it every few
  hundred steps)."""
  @jax.jit
  def evaluate(variables, x, y, rng):
    logits_fn = lambda v: module.apply(variables, v, train=False)
    clean = jnp.argmax(logits_fn(x), -1) == y
    x_adv = pgd_linf(logits_fn, x, y, eps=eps, step_size=step_size, steps=steps, rng=rng)
    return clean, jnp.argmax(logits_fn(x_adv), -1) == y

  return evaluate


def robust_accuracy(module, variables, images, labels, *, eps, step_size, steps, batch_size=250,
                    seed=0):
  """(clean accuracy, PGD accuracy) over numpy images (float [0,1], NHWC) and labels."""
  evaluate = accuracy_evaluator(module, eps=eps, step_size=step_size, steps=steps)
  return accuracy_with(evaluate, variables, images, labels, batch_size=batch_size, seed=seed)


def accuracy_with(evaluate, variables, images, labels, *, batch_size=250, seed=0):
  """robust_accuracy with an evaluator made once by accuracy_evaluator."""
  clean = adv = 0
  rng = jax.random.key(seed)
  batch_size = min(batch_size, max(len(images), 1))  # a few images are not padded to 250
  for start in range(0, len(images), batch_size):
    rng, sub = jax.random.split(rng)
    # the last batch padded to the others' size: one compile, the padding not counted
    (x, y), valid = pad_batch([np.asarray(images[start:start + batch_size]),
                               np.asarray(labels[start:start + batch_size])], batch_size)
    c, a = jax.device_get(evaluate(variables, jnp.asarray(x), jnp.asarray(y), sub))
    clean, adv = clean + int(c[:valid].sum()), adv + int(a[:valid].sum())
  n = max(len(images), 1)
  return clean / n, adv / n


def clean_and_pgd_accuracy(module, variables, images, labels, *, eps, step_size, steps,
                           pgd_examples: int):
  """Clean accuracy on all images; PGD accuracy on `pgd_examples` spread evenly over the split (so
  that every class appears when the split is ordered by class)."""
  images = np.asarray(images, np.float32)
  clean, _ = robust_accuracy(module, variables, images, labels, eps=0.0, step_size=0.0, steps=0)
  idx = np.linspace(0, len(images) - 1, min(pgd_examples, len(images))).astype(int)
  clean_subset, robust = robust_accuracy(module, variables, images[idx], labels[idx], eps=eps,
                                         step_size=step_size, steps=steps)
  return {"clean_accuracy": clean, "clean_examples": len(images), "pgd_accuracy": robust,
          "pgd_examples": len(idx), "clean_accuracy_pgd_subset": clean_subset}
