"""Optimisation-based inversion baseline (Mahendran & Vedaldi 2015; Engstrom et al. 2019 with robust
models): gradient descent on the image for

    ||phi(x) - z||^2 + tv_weight * TV(x) + l2_weight * ||x - 0.5||^2 / (H W 3)

from a configurable start, batched and jitted (one lax.scan over the steps), x kept in [0, 1].
TV(x) is the mean squared difference of neighbouring pixels (smooth, so plain gradient descent
with a small step decreases the objective monotonically).

  python -m biglogit.experiments.optimize --classifier=DIR --dataset=cifar10_resnet4b \
      --data_dir=data_out --out=workdirs/optimize_resnet4b

Scored by the same evaluation as the inverters: OUT/eval/metrics.json (+ .md), so biglogit.report
puts it in the same table; OUT/experiments/optimize/ holds the loss curve (optimize.json) and
optimize.png (original | start | result).
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from biglogit import BiglogitError
from biglogit import limits
from biglogit import cli
from biglogit import images as image_lib
from biglogit.config_base import base_config
from biglogit.evaluate import core
from biglogit.experiments import harness

STARTS = ("gray", "noise", "mean")


def total_variation(x):
  """Mean squared difference of vertically and horizontally neighbouring pixels, per image."""
  dy = jnp.mean(jnp.square(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3))
  dx = jnp.mean(jnp.square(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3))
  return dx + dy


def make_inversion(logits_fn, *, steps: int, lr: float, tv_weight: float, l2_weight: float,
                   optimizer: str = "adam"):
  """jitted (x0, z, valid) -> (x, history) with history = {objective, logit_distance}: [steps] means
  over the first `valid` examples (the rest pad the last batch to the compiled shape; every example is
  optimised on its own, so the padding changes nothing of the others)."""
  if optimizer not in ("adam", "sgd"):
    raise BiglogitError(f"--optimizer={optimizer}; use adam or sgd")
  tx = optax.adam(lr) if optimizer == "adam" else optax.sgd(lr)

  def objective(x, z):
    dist = jnp.sum(jnp.square(logits_fn(x) - z), axis=-1)
    prior = tv_weight * total_variation(x) + l2_weight * jnp.mean(jnp.square(x - 0.5), axis=(1, 2, 3))
    return jnp.sum(dist + prior), (dist + prior, dist)

  def invert(x0, z, valid):
    real = jnp.arange(x0.shape[0]) < valid
    mean = lambda v: jnp.sum(jnp.where(real, v, 0.0)) / valid

    def body(carry, _):
      x, opt = carry
      (_, (per_example, dist)), grad = jax.value_and_grad(objective, has_aux=True)(x, z)
      updates, opt = tx.update(grad, opt, x)
      x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)
      return (x, opt), {"objective": mean(per_example), "logit_distance": mean(jnp.sqrt(dist))}

    (x, _), history = jax.lax.scan(body, (x0, tx.init(x0)), None, length=steps)
    return x, history

  return jax.jit(invert)


def starting_images(kind: str, shape, seed: int, mean_image=None) -> np.ndarray:
  if kind == "gray":
    return np.full(shape, 0.5, np.float32)
  if kind == "noise":
    return np.random.default_rng(seed).uniform(0.0, 1.0, shape).astype(np.float32)
  if kind == "mean":
    return np.broadcast_to(mean_image, shape).astype(np.float32).copy()
  raise BiglogitError(f"--start={kind}; use one of {', '.join(STARTS)}")


def run(classifier: str, dataset: str, out: str, *, data_dir: str = "", split: str = "test",
        num_examples: int = 500, steps: int = 300, lr: float = 0.01, tv_weight: float = 1.0,
        l2_weight: float = 0.0, optimizer: str = "adam", start: str = "gray", batch_size: int = 250,
        num_images: int = 8, seed: int = 0, eval_overrides=None):
  config = base_config()
  config.data.dataset, config.data.data_dir = dataset, data_dir
  config.eval.classifier, config.eval.split = classifier, split
  config.eval.num_examples, config.eval.batch_size = num_examples, batch_size
  for k, v in (eval_overrides or {}).items():
    config.eval[k] = v
  if start not in STARTS:
    raise BiglogitError(f"--start={start}; use one of {', '.join(STARTS)}")
  examples, metadata = core.held_out(config, split, num_examples)
  evaluator = core.Evaluator(config, metadata)
  x, z = examples["x"], examples["logits"].astype(np.float32)
  # The mean start is the mean image of the training split (never the images being inverted).
  mean_image = None
  if start == "mean":
    train = core.held_out(config, config.data.train_split, 2000)[0]["x"]
    mean_image = train.mean(axis=0, keepdims=True)
  x0 = starting_images(start, x.shape, seed, mean_image)
  invert = make_inversion(evaluator.phi.logits_fn, steps=steps, lr=lr, tv_weight=tv_weight,
                          l2_weight=l2_weight, optimizer=optimizer)
  results, histories = [], []
  size = min(batch_size, len(x))
  for s in range(0, len(x), size):
    (x0_batch, z_batch), valid = image_lib.pad_batch([x0[s:s + size], z[s:s + size]], size)
    xb, hb = invert(jnp.asarray(x0_batch), jnp.asarray(z_batch), valid)  # one program for every batch
    results.append(np.asarray(xb)[:valid])
    histories.append({k: np.asarray(v) * valid for k, v in hb.items()})
  x_hat = np.concatenate(results)
  history = {k: (sum(h[k] for h in histories) / len(x)).tolist() for k in histories[0]}
  summary, per_example = evaluator.score(x, x_hat, z, examples["label"])
  settings = {"steps": steps, "lr": lr, "tv_weight": tv_weight, "l2_weight": l2_weight,
              "optimizer": optimizer, "start": start}
  record = {"run": os.path.basename(os.path.normpath(out)), "workdir": out, "step": steps,
            "method": "optimization", "release": "full logits", "dataset": dataset, "split": split,
            "num_examples": int(len(x)), "settings": settings, "networks": evaluator.describe(),
            "notes": evaluator.notes, "metrics": summary}
  core.write_record(os.path.join(out, "eval"), record, per_example={**per_example, "index": examples["index"]})
  exp_dir = os.path.join(out, "experiments", "optimize")
  shown = harness.pick(len(x), num_images, seed)
  figure = harness.save_grid(os.path.join(exp_dir, "optimize.png"), [x[shown], x0[shown], x_hat[shown]],
                            ["original", "start", "result"])
  harness.write_json(os.path.join(exp_dir, "optimize.json"),
                    {"experiment": "optimize", "run": record["run"], "classifier": classifier,
                     "settings": settings, "history": history, "figures": [os.path.basename(figure)],
                     "columns": ["original", "start", "result"]})
  return record, history


if __name__ == "__main__":
  from absl import flags
  flags.DEFINE_string("classifier", None, "phi: the classifier whose logits are inverted.")
  flags.DEFINE_string("dataset", None, "Logits dataset (folder, or name under --data_dir).")
  flags.DEFINE_string("data_dir", "", "Where named logits datasets live.")
  flags.DEFINE_string("out", None, "Output folder (a run folder: eval/ and experiments/optimize/).")
  flags.DEFINE_string("split", "test", "Held-out split.")
  flags.DEFINE_integer("num_examples", 500, "Examples to invert.", lower_bound=1, upper_bound=limits.MAX_EXAMPLES)
  flags.DEFINE_integer("steps", 300, "Gradient steps.", lower_bound=0, upper_bound=1_000_000)
  flags.DEFINE_float("lr", 0.01, "Step size.", lower_bound=1e-9, upper_bound=100.0)
  flags.DEFINE_float("tv_weight", 1.0, "Weight of the total-variation prior.", lower_bound=0.0, upper_bound=1e6)
  flags.DEFINE_float("l2_weight", 0.0, "Weight of the L2 prior towards mid-gray.", lower_bound=0.0, upper_bound=1e6)
  flags.DEFINE_enum("optimizer", "adam", ["adam", "sgd"], "Update rule.")
  flags.DEFINE_enum("start", "gray", list(STARTS), "Starting image.")
  flags.DEFINE_integer("batch_size", 250, "Images optimised together.", lower_bound=1, upper_bound=limits.MAX_BATCH)
  flags.DEFINE_integer("seed", 0, "Noise start and shown examples.", lower_bound=0, upper_bound=limits.MAX_SEED)
  flags.DEFINE_string("identifier", "", "Independent classifier for identifiability.")
  flags.DEFINE_string("robust_features", "", "Classifier for the feature distance.")
  flags.DEFINE_string("fid_extractor", "", "inception:DIR or classifier:DIR (stand-in).")
  flags.mark_flags_as_required(["classifier", "dataset", "out"])
  F = flags.FLAGS
  cli.run(lambda _: run(
      F.classifier, F.dataset, F.out, data_dir=F.data_dir, split=F.split, num_examples=F.num_examples,
      steps=F.steps, lr=F.lr, tv_weight=F.tv_weight, l2_weight=F.l2_weight, optimizer=F.optimizer,
      start=F.start, batch_size=F.batch_size, seed=F.seed,
      eval_overrides={"identifier": F.identifier, "robust_features": F.robust_features,
                      "fid_extractor": F.fid_extractor}))
