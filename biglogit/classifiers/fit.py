"""python -m biglogit.classifiers.fit --config=configs/classifier_<name>.py --workdir=DIR

Trains a classifier on an image folder / tarball or a TFDS dataset, standard or PGD-L-inf adversarial
(Madry et al. 2018: every training batch is replaced by its PGD adversarial examples), sharded over
the device mesh on the GAN trainer's skeleton (training_loop.py: donated jit, Orbax checkpoints with
the Grain iterator's position, automatic resume, SIGTERM and NaN stops), its images read through the
same Grain pipeline. Reports clean and
PGD accuracy on the evaluation split, and writes the final model to WORKDIR/classifier in the same
format as biglogit.convert, so make_logits and the experiments take it directly.
"""
import functools
import os
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags, logging
from ml_collections import config_flags

from biglogit import BiglogitError
from biglogit import config_schema
from biglogit import checkpointing
from biglogit import classifiers
from biglogit import train_logs
from biglogit import training_loop
from biglogit import sharding
from biglogit import cli
from biglogit.classifiers import io as cio
from biglogit.classifiers import pgd
from biglogit import grain_input
from biglogit import image_sources
from biglogit import workdir_lock


@flax.struct.dataclass
class ClassifierState:
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jax.Array  # raw key data


def load_split(source_spec: str, split: str, resolution: int, resize: int, limit: int = 0):
  """(uint8 images [N,H,W,3], int labels [N]) of a whole split, in memory."""
  source = image_sources.open_source(source_spec)
  skips = image_sources.SkipLog()
  class_names = source.class_names(split)
  images, labels = [], []
  for rec in source.records(split, resolution, resize, skips, class_names):
    images.append(rec.image)
    labels.append(rec.label)
    if limit and len(images) == limit:
      break
  if not images:
    raise BiglogitError(f"split {split!r} of {source_spec} has no readable images")
  return np.stack(images), np.asarray(labels, np.int32), class_names


def build_model(config):
  m = config.model
  return classifiers.build(m.arch, num_classes=m.num_classes, **dict(m.module_kwargs))


def make_optimizer(config, steps_per_epoch: int):
  t = config.train
  schedule = optax.cosine_decay_schedule(t.learning_rate, t.num_epochs * steps_per_epoch)
  return optax.chain(optax.add_decayed_weights(t.weight_decay),
                     optax.sgd(schedule, momentum=t.momentum, nesterov=True))


def augment(rng, images, pad: int):
  """Random crop after `pad` pixels of zero padding, and random horizontal flip (per example)."""
  if pad == 0:
    return images
  n, h, w, _ = images.shape
  crop_rng, flip_rng = jax.random.split(rng)
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  offsets = jax.random.randint(crop_rng, (n, 2), 0, 2 * pad + 1)
  crop = jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), (h, w, 3)))(padded, offsets)
  flip = jax.random.bernoulli(flip_rng, 0.5, (n, 1, 1, 1))
  return jnp.where(flip, crop[:, :, ::-1], crop)


METHODS = config_schema.CLASSIFIER["adversarial.method"].choices


def adversarial_examples(attack_fn, x, labels, adv, rng):
  """The training batch's adversarial images, both methods from a uniform random start in the
  eps-ball. FGSM-RS is PGD with one step of fgsm_step * eps (Wong et al. 2020: 1.25 eps), which is
  why one attack function serves both."""
  if adv.method == "fgsm_rs":
    return pgd.pgd_linf(attack_fn, x, labels, eps=adv.eps, step_size=adv.fgsm_step * adv.eps, steps=1,
                        rng=rng)
  return pgd.pgd_linf(attack_fn, x, labels, eps=adv.eps, step_size=adv.step_size, steps=adv.steps, rng=rng)


def train_step(state: ClassifierState, batch, *, model, tx, config):
  """batch: {"image": uint8 [B, H, W, 3], "label": int32 [B]}."""
  labels = batch["label"]
  rng, aug_rng, pgd_rng = jax.random.split(jax.random.wrap_key_data(state.rng), 3)
  x = augment(aug_rng, batch["image"].astype(jnp.float32) / 255.0, config.train.crop_padding)
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  adv = config.adversarial
  if adv.enabled:
    # The attack sees the model as it trains (batch statistics), without updating its statistics.
    attack_fn = lambda xa: model.apply(variables, xa, train=True, mutable=["batch_stats"])[0]
    x = jax.lax.stop_gradient(adversarial_examples(attack_fn, x, labels, adv, pgd_rng))

  def loss_fn(params):
    logits, new_vars = model.apply({"params": params, "batch_stats": state.batch_stats}, x, train=True,
                                   mutable=["batch_stats"])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, (new_vars["batch_stats"], jnp.mean(jnp.argmax(logits, -1) == labels))

  (loss, (batch_stats, acc)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                            batch_stats=batch_stats, opt_state=opt_state,
                            rng=jax.random.key_data(rng))
  return new_state, {"loss": loss, "train_accuracy": acc}


def _fields(example):
  return {"image": np.asarray(example["image"], np.uint8), "label": np.int32(example["label"])}


def train_iterator(images, labels, config):
  """The GAN's Grain pipeline over the decoded split (in memory: the whole of CIFAR-10 is 150 MB):
  reshuffled every epoch for config.seed, this process's part of each global batch."""
  records = [{"image": x, "label": y} for x, y in zip(images, labels)]
  ds = grain_input.train_dataset(records, seed=config.seed,
                              per_process_batch=config.train.global_batch // jax.process_count(), fields=_fields)
  return grain_input.iterate(ds, config.data.num_read_threads, config.data.prefetch)


def evaluate(model, variables, images, labels, config):
  e = config.evaluation
  return pgd.clean_and_pgd_accuracy(model, variables, images.astype(np.float32) / 255.0, labels,
                                    eps=e.pgd_eps, step_size=e.pgd_step_size, steps=e.pgd_steps,
                                    pgd_examples=e.pgd_examples)


class CollapseGuard:
  """Catastrophic overfitting (Wong et al. 2020): single-step adversarial training can, within an
  epoch, flip to a model that resists FGSM but not PGD; its PGD accuracy falls towards 0. This
  attacks the held-out images every guard_every steps (logged for every run, so a standard member of
  a pair shows its curve too) and stops an adversarial run whose PGD accuracy fell below guard_drop
  times its best. The best is this process's: a resumed run starts tracking again."""
  CHANCE = 0.1  # a best below this (the start of training) is not a level that can collapse

  def __init__(self, model, images, labels, config):
    e = config.evaluation
    self.images, self.labels, self.config = images.astype(np.float32) / 255, labels, config
    self.evaluator = pgd.accuracy_evaluator(model, eps=e.pgd_eps, step_size=e.pgd_step_size, steps=e.pgd_steps)
    self.best, self.best_step = 0.0, 0

  def due(self, step, last):
    return step % self.config.adversarial.guard_every == 0 or last

  def run(self, state, step):
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    clean, robust = pgd.accuracy_with(self.evaluator, variables, self.images, self.labels)
    adv = self.config.adversarial
    if robust > self.best:
      self.best, self.best_step = robust, step
    elif adv.enabled and self.best >= self.CHANCE and robust < adv.guard_drop * self.best:
      raise BiglogitError(
          f"catastrophic overfitting at step {step}: PGD accuracy on the {len(self.labels)} held-out images "
          f"fell from {self.best:.3f} (step {self.best_step}) to {robust:.3f}; stopped without saving this "
          f"state; lower adversarial.eps or adversarial.fgsm_step, or use adversarial.method=pgd")
    return {"holdout_clean_accuracy": clean, "holdout_pgd_accuracy": robust}


def train_classifier(config, workdir: str):
  config_schema.check(config)
  # one training per workdir (biglogit.workdir_lock), as for the inverters: a second start on a running
  # classifier's workdir would interleave its checkpoints with the first one's
  with workdir_lock.WorkdirLock(workdir, enabled=jax.process_index() == 0):
    return _train_classifier(config, workdir)


def _train_classifier(config, workdir: str):
  mesh = sharding.make_mesh()
  t, m = config.train, config.model
  sharding.check_batch_divisible(t.global_batch, mesh)
  spec = classifiers.arch_spec(m.arch)
  res, resize = spec.policy.resolution, spec.policy.resize
  train_x, train_y, class_names = load_split(config.data.source, config.data.train_split, res, resize,
                                             config.data.limit)
  holdout = config.data.holdout
  if holdout:
    if holdout >= len(train_x) // 2:
      raise BiglogitError(f"data.holdout={holdout} keeps half or more of the {len(train_x)} training images "
                          "out of training; use fewer")
    # a seeded random choice, not the split's end: image folders and tarballs are stored class by class
    held = np.zeros(len(train_x), bool)
    held[np.random.default_rng(config.seed).choice(len(train_x), holdout, replace=False)] = True
    train_x, train_y, held_x, held_y = train_x[~held], train_y[~held], train_x[held], train_y[held]
  eval_x, eval_y, _ = load_split(config.data.source, config.data.eval_split, res, resize,
                                 config.data.eval_limit)
  if len(class_names) != m.num_classes:
    raise BiglogitError(f"{config.data.source} has {len(class_names)} classes but model.num_classes="
                        f"{m.num_classes}; set --config.model.num_classes={len(class_names)}")
  if len(train_x) < t.global_batch:
    raise BiglogitError(f"{len(train_x)} training images, fewer than one batch of {t.global_batch}")
  steps_per_epoch = len(train_x) // t.global_batch
  total_steps = t.num_epochs * steps_per_epoch
  checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints,
                                            checkpointing.architecture_signature(config))
  checkpointer.check_compatible()

  model = build_model(config)
  tx = make_optimizer(config, steps_per_epoch)

  def init(rng):
    variables = model.init(rng, jnp.zeros((1, res, res, 3)), train=False)
    return ClassifierState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                           batch_stats=variables.get("batch_stats", {}),
                           opt_state=tx.init(variables["params"]), rng=jax.random.key_data(rng))

  abstract = sharding.sharded_abstract(init, mesh)
  step_fn = training_loop.jit_step(functools.partial(train_step, model=model, tx=tx, config=config),
                                   abstract, sharding.batch_sharding(mesh), mesh)
  train_iter = train_iterator(train_x, train_y, config)
  state = training_loop.restore_or_init(checkpointer, abstract, training_loop.jit_init(init, abstract),
                                        config.seed, train_iter)
  writer = train_logs.create_writer(workdir, jax.process_index() == 0)
  periodic = []
  if config.adversarial.guard_every:
    guard = CollapseGuard(model, held_x, held_y, config)
    periodic.append(training_loop.Periodic(due=guard.due, run=guard.run))
  state, step = training_loop.run(training_loop.Loop(
      compile_step=lambda state, batch: step_fn.lower(state, batch).compile(),
      next_batch=lambda step: sharding.to_global(next(train_iter), mesh), data_iterator=train_iter,
      checkpointer=checkpointer, writer=writer, num_steps=total_steps, examples_per_step=t.global_batch,
      log_every=config.log_every, checkpoint_every=config.checkpoint_every,
      divergence_advice="lower train.learning_rate", periodic=periodic), state)
  checkpointer.close()
  if step < total_steps:  # stopped by SIGTERM / SIGINT after its checkpoint: no final model yet
    writer.close()
    message = f"stopped at step {step} of {total_steps} in {workdir} (rerun the same command to resume)"
    logging.warning(message)
    return state, {"stopped": message}

  variables = {"params": state.params, "batch_stats": state.batch_stats}
  results = evaluate(model, variables, eval_x, eval_y, config)
  writer.write_scalars(step, {f"eval_{k}": v for k, v in results.items()})
  writer.close()
  meta = {"architecture": m.arch, "num_classes": m.num_classes, "input_resolution": res,
          "resize": resize, "input_range": "RGB float in [0, 1], NHWC", "mean": list(model.mean),
          "std": list(model.std), "module_kwargs": dict(m.module_kwargs),
          "source_checkpoint": os.path.abspath(os.path.join(workdir, "checkpoints", str(step))),
          "source_sha256": None, "trained_by": "biglogit.classifiers.fit",
          "training": {"source": config.data.source, "steps": step, "global_batch": t.global_batch,
                       "holdout": holdout,
                       "adversarial": config.adversarial.to_dict()},
          "class_names": class_names,
          "evaluation": {"split": config.data.eval_split, "pgd_eps": config.evaluation.pgd_eps,
                         "pgd_step_size": config.evaluation.pgd_step_size,
                         "pgd_steps": config.evaluation.pgd_steps, **results}}
  if jax.process_index() == 0:
    cio.save_classifier(os.path.join(workdir, "classifier"), jax.device_get(variables), meta)
  logging.info("clean accuracy %.4f, PGD accuracy %.4f", results["clean_accuracy"], results["pgd_accuracy"])
  return state, results


FLAGS = flags.FLAGS


def main(argv):
  del argv
  cli.check_config_file(("model", "train", "data"), example="configs/classifier_tiny.py")
  _, results = train_classifier(FLAGS.config, FLAGS.workdir)
  print(results.get("stopped", results))


if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "Classifier config file.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Checkpoints, logs and the trained classifier go here.")
  flags.mark_flags_as_required(["config", "workdir"])
  cli.run(main)
