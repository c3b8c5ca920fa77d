"""train_and_evaluate(config, workdir): one training run, top to bottom.

  checks -> data -> workdir (resume point, lock) -> trainer -> restore or init -> loop -> final evaluation

What each stage calls lives in its own module: preflight (checks before any compile or write), trainer
(the jitted functions), training_loop (the loop shared with the classifier trainer: logging, periodic
work, checkpoints, stops), steps (the losses and the update), evaluate.periodic (the judges).
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from etils import epath

from biglogit import BiglogitError
from biglogit import checkpointing
from biglogit import images as image_lib
from biglogit import preflight
from biglogit import resume_guard
from biglogit import sharding
from biglogit import state as state_lib
from biglogit import steps
from biglogit import train_logs
from biglogit import training_loop
from biglogit import warm_start
from biglogit import workdir_lock
from biglogit.data import conditioning
from biglogit.data import dataset as dataset_lib
from biglogit.data import logits_builder
from biglogit.data import pipeline
from biglogit.evaluate import periodic
from biglogit.trainer import build_trainer


def train_and_evaluate(config, workdir: str, allow_changed_resume: bool = False):
  """allow_changed_resume: resume even if the trajectory's settings differ from the workdir's record
  (resume_guard.py); the changes are logged and recorded. Returns the final state (None: nothing to do)."""
  # ---- checks that cost nothing, before anything is built, compiled or written
  mesh = sharding.make_mesh()
  preflight.validate_config(config, mesh)
  preflight.check_dataset_named(config)

  # ---- data: built if the config says how and it is missing; opened (and so validated against the
  # model) on every process; the evaluation split read; the conditioning's statistics filled in
  _build_dataset_if_missing(config)
  train_iter, spec = _open_data_on_every_process(config)
  preflight.check_eval_split(config)
  stats_from = conditioning.resolve(config, spec.metadata, lambda: pipeline.split_logits(
      config.data.dataset, config.data.train_split, config.data.data_dir))
  if stats_from:
    logging.info("conditioning: %s, statistics from %s", conditioning.describe(config), stats_from)

  # ---- workdir: where to resume (or nothing to do), writable, and ours alone while we train
  checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints,
                                            checkpointing.architecture_signature(config))
  start = preflight.check_start(config, workdir, checkpointer, mesh.devices.size, allow_changed_resume, spec)
  if start is None:
    return None
  preflight.check_workdir_writable(workdir)
  # process 0 holds the lock for all hosts of a multi-host run; if it cannot take it every process stops
  lock = workdir_lock.WorkdirLock(workdir, enabled=jax.process_index() == 0)
  sharding.on_every_process(lock.acquire, "the workdir lock could not be taken on process(es) {processes} "
                            "of {count} ({error}); wait for the other training, stop it, or pick another "
                            "--workdir")
  try:
    return _train(config, workdir, mesh, train_iter, spec, checkpointer, start)
  finally:
    lock.release()


def _train(config, workdir, mesh, train_iter, spec, checkpointer, start):
  # ---- trainer: the jitted init, step and reconstruct, with the frozen classifiers the losses read
  needs_comparator = config.method == "deepsim" or steps.uses_hybrid_loss(config)
  trainer = build_trainer(config, mesh, preflight.comparator_dir(config, spec.metadata) if needs_comparator else "",
                          preflight.phi_dir(config, spec.metadata) if config.train.consistency_weight > 0 else "")
  preflight.check_free_space(workdir, trainer.abstract_state)

  # ---- state: the newest checkpoint, else a fresh init (or, at a first start, a warm start)
  clock = training_loop.TrainClock(budget_s=config.train.budget_hours * 3600)
  state = training_loop.restore_or_init(checkpointer, trainer.abstract_state, trainer.init, config.seed,
                                        train_iter, clock)
  if checkpointer.latest_step() is None and config.train.init_from:
    state = warm_start.apply(config, state, mesh)
  if clock.out_of_time and not preflight.final_eval_missing(config, workdir):
    print(f"already finished: {workdir} has spent its time budget ({clock.hours:.2f} h of training, "
          f"train.budget_hours={config.train.budget_hours:g}); raise --config.train.budget_hours to train further")
    return state
  is_main = jax.process_index() == 0
  if is_main:  # only once the start is sure: a refused resume leaves both files as they were
    _record_start(config, workdir, mesh, start)
  writer = train_logs.create_writer(workdir, is_main)
  logging.info("G %.2fM params, D %.2fM params, %d devices, global batch %d",
               state_lib.count_params(state.g_params) / 1e6, state_lib.count_params(state.d_params) / 1e6,
               mesh.devices.size, config.train.global_batch)

  # ---- the loop: steps, logs, image grids and evaluations, checkpoints, clean stops
  evaluate = _Evaluate(config, workdir)
  loop = training_loop.Loop(
      compile_step=trainer.compiled_step,
      next_batch=lambda step: _next_batch(train_iter, mesh, step, config), data_iterator=train_iter,
      checkpointer=checkpointer, writer=writer, num_steps=config.train.num_steps, clock=clock,
      examples_per_step=config.train.global_batch * config.train.d_steps, log_every=config.log_every,
      checkpoint_every=config.checkpoint_every, divergence_advice="lower the learning rates or use float32 compute",
      periodic=_periodic_work(config, trainer, workdir, writer, clock, evaluate, is_main))
  state, step = training_loop.run(loop, state)
  finished = step == config.train.num_steps or clock.out_of_time
  checkpointer.wait()  # the final checkpoint is complete on disk before anything else that can fail runs

  # ---- final evaluation and the summary the user reads next
  if is_main and config.eval.at_end and finished:
    writer.write_scalars(step, {**evaluate(state, step, stem="metrics"), "train_hours": clock.hours})
  checkpointer.close()
  writer.flush()
  writer.close()
  if is_main:
    print(train_logs.run_summary(workdir, step, config.train.num_steps, finished=finished, clock=clock), flush=True)
  return state


class _Evaluate:
  """evaluate.periodic's evaluation, built at its first use (it loads the judges and scores the baselines)."""

  def __init__(self, config, workdir: str):
    self._config, self._workdir, self._evaluation = config, workdir, None

  def __call__(self, state, step: int, stem=None):
    self._evaluation = self._evaluation or periodic.PeriodicEvaluation(self._config)
    return self._evaluation(state, step, self._workdir, stem=stem)


def _periodic_work(config, trainer, workdir, writer, clock, evaluate, is_main):
  """Image grids every config.image_every steps; evaluations every eval.every steps and every
  eval.every_hours of training time (with eval.at_end the final evaluation covers the last step)."""
  def due_every(n, skip_last=False):
    """On process 0, every n steps and at the last one (n = 0: never)."""
    return lambda step, last: bool(is_main and n and (step % n == 0 or last) and not (last and skip_last))

  return [training_loop.Periodic(due_every(config.image_every), _grid_writer(trainer, config, workdir, writer)),
          training_loop.Periodic(due_every(config.eval.every, skip_last=config.eval.at_end), evaluate),
          training_loop.Periodic(due_every_hours(clock, config.eval.every_hours if is_main else 0,
                                                 skip_last=config.eval.at_end), evaluate)]


def _record_start(config, workdir, mesh, start):
  """The start's record (run_history.json, resume_guard) and the run's config.json."""
  trajectory, changes, start_step = start
  kinds = sorted({d.device_kind for d in mesh.devices.flat})
  resume_guard.record(workdir, trajectory, config.to_dict(), start_step, changes,
                      devices=f"{mesh.devices.size} x {'/'.join(kinds)}")
  _write_config(workdir, config)


def due_every_hours(clock: training_loop.TrainClock, hours: float, skip_last: bool = False):
  """Periodic.due: at the first step past each multiple of `hours` of the clock's training time (it
  advances at log steps, so these are log steps) and at the last step; hours = 0: never. A resumed
  run counts the multiples its clock had already passed as done."""
  period = hours * 3600
  passed = [int(clock.seconds // period) if period else 0]

  def due(step, last):
    if not period or (last and skip_last):
      return False
    now = int(clock.seconds // period)
    crossed, passed[0] = now > passed[0], max(passed[0], now)
    return crossed or last
  return due


GRID_TITLES = ("original", "G(z, eps1)", "G(z, eps2)")


def _grid_columns(trainer, state, examples, config):
  """Columns (uint8 arrays): original | G(z, eps1) | G(z, eps2), with the EMA generator."""
  logits = jnp.asarray(examples["logits"])
  rng1, rng2 = jax.random.split(jax.random.key(config.seed + 1))
  outs = [image_lib.to_uint8(trainer.reconstruct(state.ema_params, state.g_stats, logits,
                                                   steps.sample_eps(r, logits.shape[0], config.model.dim_z)))
          for r in (rng1, rng2)]
  return [examples["image"]] + outs


def _grid_writer(trainer, config, workdir, writer):
  """Periodic work: the image grid of the fixed examples, as a PNG and in the logs."""
  examples = pipeline.fixed_examples(config.data.dataset, config.data.eval_split or config.data.train_split,
                                     config.data.data_dir, config.num_grid_images)

  def write(state, step):
    columns = _grid_columns(trainer, state, examples, config)
    image_lib.save_png(os.path.join(workdir, "images", f"step_{step:08d}.png"),
                       image_lib.labelled_grid(columns, GRID_TITLES, upscale=2))
    writer.write_images(step, {"original|recon_eps1|recon_eps2": image_lib.image_grid(columns)})
    return {}

  return write


def _next_batch(train_iter, mesh, step: int, config):
  """The host batch is checked before it enters the step (a few hundred numbers): a non-finite logit
  in the data is named as such, not mistaken for the GAN diverging."""
  local = next(train_iter)
  if not np.isfinite(local["logits"]).all():
    raise BiglogitError(f"non-finite logits in the training data at step {step} ({config.data.dataset}); "
                        "stopped before that step, nothing of it saved; rebuild the dataset with "
                        "python -m biglogit.data.make_logits, which refuses such rows")
  return sharding.to_global(local, mesh, batch_axis=1)


def _write_config(workdir: str, config):
  """config.json: what evaluation, experiments and notebooks rebuild the model from."""
  target = epath.Path(workdir) / "config.json"
  tmp = epath.Path(workdir) / "config.json.tmp"
  tmp.write_text(json.dumps(config.to_dict(), indent=2))
  tmp.replace(target)


def _build_dataset_if_missing(config):
  """data.source + data.classifier: build the logits dataset first when it is not there yet (every
  process builds its own copy unless data_dir is storage they share and it already exists); one that
  is there under that name must have been built from this source and classifier (logits_builder checks)."""
  d = config.data
  if not (d.source and d.classifier):
    return
  try:
    found = dataset_lib.resolve_dataset_dir(d.dataset, d.data_dir)
  except BiglogitError:
    found = None
  if found is not None and ("/" in d.dataset or not d.data_dir):
    return  # a dataset folder given directly is used as it is
  if not d.data_dir or not d.dataset or "/" in d.dataset:
    raise BiglogitError("to build the logits dataset from data.source, set data.data_dir and a plain "
                        f"data.dataset name (got dataset={d.dataset!r}, data_dir={d.data_dir!r})")
  if found is None:
    logging.info("logits dataset %s missing: building it from %s through %s", d.dataset, d.source,
                 d.classifier)
  logits_builder.build_logits_dataset(d.source, d.classifier, d.data_dir, name=d.dataset)


def _open_data_on_every_process(config):
  """Every process opens its shard; if any cannot (e.g. the dataset is missing on some hosts), all
  stop with one error naming them."""
  return sharding.on_every_process(
      lambda: pipeline.make_train_iterator(config),
      "the data could not be opened on process(es) {processes} of {count} ({error}); put the dataset on "
      "every host or on storage all hosts share (--config.data.data_dir)")
