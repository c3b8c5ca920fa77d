"""train_and_evaluate(config, workdir): mesh, init (abstract, then sharded), the loop, periodic
checkpoints / logs / image grids, resume, and clean stops (NaN, SIGTERM)."""
import collections
import dataclasses
import functools
import json
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from etils import epath

from biglogit import BiglogitError
from biglogit import files
from biglogit import images as image_lib
from biglogit import checkpointing
from biglogit import config_schema
from biglogit import train_logs
from biglogit import training_loop
from biglogit import warm_start
from biglogit import resume_guard
from biglogit import sharding
from biglogit import state as state_lib
from biglogit import steps
from biglogit import workdir_lock
from biglogit.classifiers import io as classifier_io
from biglogit.data import conditioning
from biglogit.data import dataset as dataset_lib
from biglogit.data import make_logits
from biglogit.data import pipeline
from biglogit.evaluate import periodic


@dataclasses.dataclass
class Trainer:
  """Everything jit needs, built once per (config, mesh)."""
  generator: Any
  discriminator: Any
  g_tx: Any
  d_tx: Any
  mesh: Any
  state_sharding: Any
  abstract_state: Any  # ShapeDtypeStructs with shardings
  init: Callable
  step: Callable  # jitted (state, batch, aux) -> (state, metrics)
  reconstruct: Callable  # jitted steps.reconstruct (params, g_stats, logits, eps) -> images
  aux: Any  # frozen arrays the step needs (the DeePSiM comparator's variables), replicated

  compiled: dict = dataclasses.field(default_factory=dict)  # the AOT-compiled step, by input types

  def run_step(self, state, batch):
    return self.step(state, batch, self.aux)

  def compiled_step(self, state, batch):
    """The step compiled ahead of the loop for these inputs' shapes, dtypes and shardings (once per
    trainer: a resumed or repeated run in this process reuses it), as (state, batch) -> (state, metrics)."""
    leaves, treedef = jax.tree_util.tree_flatten((state, batch))
    key = (treedef, tuple((x.shape, str(x.dtype), x.sharding) for x in leaves))
    if key not in self.compiled:
      self.compiled[key] = self.step.lower(state, batch, self.aux).compile()
    compiled = self.compiled[key]
    return lambda state, batch: compiled(state, batch, self.aux)


def validate_config(config, mesh):
  """Cheap checks that must fail before any compile or write: the declared schema (config_schema.py),
  the batch against the devices, and the judges' folders of an evaluation during training."""
  config_schema.check(config)
  periodic.check_judges(config)
  sharding.check_batch_divisible(config.train.global_batch, mesh)


def phi_dir(config, dataset_metadata) -> str:
  """The frozen classifier of train.consistency_weight: train.consistency_classifier, else the
  classifier that made the logits."""
  directory = config.train.consistency_classifier or dataset_metadata.get("classifier_dir", "")
  if not directory or not os.path.exists(os.path.join(directory, classifier_io.METADATA)):
    raise BiglogitError(f"train.consistency_weight > 0 needs the classifier phi, and {directory!r} is not one; "
                        "set --config.train.consistency_classifier=DIR (the classifier that made the logits)")
  return directory


def _phi_logits(directory: str):
  """(fn(variables, images in [0, 1]) -> raw logits, variables) of a frozen classifier."""
  module, variables, meta = classifier_io.load_classifier(directory)
  resolution = int(meta["input_resolution"])

  def logits(variables, x):
    return module.apply(variables, image_lib.resize_to(x, resolution), train=False)

  return logits, variables


def comparator_dir(config, dataset_metadata) -> str:
  """DeePSiM's comparator network: deepsim.comparator, else the classifier that made the logits."""
  directory = config.deepsim.comparator or dataset_metadata.get("classifier_dir", "")
  if not directory or not os.path.exists(os.path.join(directory, classifier_io.METADATA)):
    raise BiglogitError(f"method=deepsim and the hybrid loss need a comparator classifier, and {directory!r} is "
                        "not one; set --config.deepsim.comparator=DIR (a converted or trained classifier)")
  return directory


def _comparator(directory: str, layer: str):
  """(fn(variables, images in [0, 1]) -> features, variables): a classifier's penultimate features, or
  the output of the module at Flax path `layer` (e.g. 'layer2')."""
  module, variables, meta = classifier_io.load_classifier(directory)
  resolution = int(meta["input_resolution"])

  def features(variables, x):
    x = image_lib.resize_to(x, resolution)
    if not layer:
      return module.apply(variables, x, train=False, features=True)
    _, captured = module.apply(variables, x, train=False, mutable=["intermediates"],
                               capture_intermediates=lambda mdl, _: "/".join(mdl.path) == layer)
    found = jax.tree_util.tree_leaves(captured.get("intermediates", {}))
    if not found:
      raise BiglogitError(f"deepsim.comparator_layer={layer!r} names no module of {meta['architecture']}; "
                          "use a Flax module path such as 'layer2', or '' for the penultimate features")
    return found[0]

  return features, variables


# Trainers built in this process, by everything their jitted functions depend on: a second training
# of the same model in one process (a notebook cell run again, the test suite) reuses the traced and
# compiled step instead of paying ~20 s of tracing and compiling again.
_TRAINERS = collections.OrderedDict()
_MAX_TRAINERS = 4


def build_trainer(config, mesh, comparator: str = "", phi: str = "") -> Trainer:
  """comparator: classifier dir for method="deepsim" (see comparator_dir); unused otherwise.
  phi: classifier dir for train.consistency_weight > 0 (see phi_dir); unused otherwise."""
  mtime = lambda d: (os.path.getmtime(os.path.join(d, classifier_io.VARIABLES))
                     if d and os.path.exists(os.path.join(d, classifier_io.VARIABLES)) else "")
  key = state_lib.program_key(config, mesh, comparator, mtime(comparator), phi, mtime(phi))
  if key in _TRAINERS:
    _TRAINERS.move_to_end(key)
    return _TRAINERS[key]
  trainer = _build_trainer(config, mesh, comparator, phi)
  _TRAINERS[key] = trainer
  while len(_TRAINERS) > _MAX_TRAINERS:
    _TRAINERS.popitem(last=False)
  return trainer


def _build_trainer(config, mesh, comparator: str, phi: str = "") -> Trainer:
  generator, discriminator = state_lib.build_models(config.model, config.method, config.deepsim.hidden)
  g_tx, d_tx = state_lib.build_optimizers(config.train)
  init_fn = functools.partial(state_lib.init_state, config=config, generator=generator,
                              discriminator=discriminator, g_tx=g_tx, d_tx=d_tx)
  abstract = state_lib.abstract_state(config, mesh)  # with the shardings the state lives in
  state_sharding = training_loop.shardings_of(abstract)
  features_fn, phi_fn, aux = None, None, {}
  if (config.method == "deepsim" or steps.uses_hybrid_loss(config)) and comparator:
    features_fn, aux["comparator"] = _comparator(comparator, config.deepsim.comparator_layer)
  if config.train.consistency_weight > 0 and phi:
    phi_fn, aux["phi"] = _phi_logits(phi)
  step_fn = functools.partial(steps.train_step, generator=generator, discriminator=discriminator,
                              g_tx=g_tx, d_tx=d_tx, config=config, comparator=features_fn, phi=phi_fn)
  aux = jax.device_put(aux, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
  jit_step = training_loop.jit_step(step_fn, abstract, sharding.batch_sharding(mesh, batch_axis=1),  # [d_steps, B, ...]
                                    mesh, num_aux=1)
  jit_init = training_loop.jit_init(init_fn, abstract)
  jit_reconstruct = jax.jit(functools.partial(steps.reconstruct, generator=generator, config=config))
  return Trainer(generator, discriminator, g_tx, d_tx, mesh, state_sharding, abstract,
                 jit_init, jit_step, jit_reconstruct, aux)


GRID_TITLES = ("original", "G(z, eps1)", "G(z, eps2)")


def _grid_columns(trainer, state, examples, config):
  """Columns (uint8 arrays): original | G(z, eps1) | G(z, eps2), with the EMA generator."""
  logits = jnp.asarray(examples["logits"])
  rng1, rng2 = jax.random.split(jax.random.key(config.seed + 1))
  outs = [image_lib.to_uint8(trainer.reconstruct(state.ema_params, state.g_stats, logits,
                                                   steps.sample_eps(r, logits.shape[0], config.model.dim_z)))
          for r in (rng1, rng2)]
  return [examples["image"]] + outs


def train_and_evaluate(config, workdir: str, allow_changed_resume: bool = False):
  """allow_changed_resume: resume even if the trajectory's settings differ from the workdir's record
  (resume_guard.py); the changes are logged and recorded."""
  mesh = sharding.make_mesh()
  validate_config(config, mesh)
  if not config.data.dataset:  # here, not in validate_config: the benchmark needs no dataset
    raise BiglogitError("data.dataset is empty; set it to a logits dataset's name (under data.data_dir) "
                        "or folder")
  _build_dataset_if_missing(config)
  # Opening the data validates it against the model before anything is compiled or written.
  train_iter, spec = _open_data_on_every_process(config)
  if config.eval.every or config.eval.every_hours or config.eval.at_end:  # their split, before any step
    dataset_lib.open_split(config.data.dataset, config.eval.split, config.data.data_dir)
    pipeline.split_logits(config.data.dataset, config.eval.split, config.data.data_dir, config.eval.num_examples)
  stats_from = conditioning.resolve(config, spec.metadata, lambda: pipeline.split_logits(
      config.data.dataset, config.data.train_split, config.data.data_dir))
  if stats_from:
    logging.info("conditioning: %s, statistics from %s", conditioning.describe(config), stats_from)
  checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints,
                                            checkpointing.architecture_signature(config))
  checkpointer.check_compatible()
  latest = checkpointer.latest_step()
  if latest is None:  # a warm start's source is read at the first start only (a resume needs it no more)
    warm_start.check(config)
  if latest is not None and latest > config.train.num_steps:
    raise BiglogitError(f"{workdir} already holds step {latest}, past train.num_steps="
                        f"{config.train.num_steps}; raise --config.train.num_steps or use another workdir")
  final_eval_missing = config.eval.at_end and not (epath.Path(workdir) / "eval" / "metrics.json").exists()
  if latest is not None and latest == config.train.num_steps and not final_eval_missing:
    logging.info("the run in %s is already finished (step %d = train.num_steps); raise "
                 "--config.train.num_steps to train further", workdir, latest)
    print(f"already finished: {workdir} holds step {latest} = train.num_steps; raise "
          "--config.train.num_steps to train further")
    return None
  trajectory = resume_guard.identity(config, spec, mesh.devices.size)
  changes = resume_guard.check(workdir, trajectory, latest, allow_changed_resume)
  if changes:
    logging.warning("resuming with changed trajectory settings (allowed): %s", changes)
  _check_workdir_writable(workdir)
  # One training per workdir: process 0 holds the lock for all hosts of a multi-host run, and if it
  # cannot take it every process stops.
  lock = workdir_lock.WorkdirLock(workdir, enabled=jax.process_index() == 0)
  sharding.on_every_process(lock.acquire, "the workdir lock could not be taken on process(es) {processes} "
                            "of {count} ({error}); wait for the other training, stop it, or pick another "
                            "--workdir")
  try:
    return _train(config, workdir, mesh, train_iter, spec, checkpointer, (trajectory, changes, latest or 0))
  finally:
    lock.release()


def _train(config, workdir, mesh, train_iter, spec, checkpointer, start_record):
  needs_comparator = config.method == "deepsim" or steps.uses_hybrid_loss(config)
  trainer = build_trainer(config, mesh, comparator_dir(config, spec.metadata) if needs_comparator else "",
                          phi_dir(config, spec.metadata) if config.train.consistency_weight > 0 else "")
  _check_free_space(workdir, trainer.abstract_state)
  is_main = jax.process_index() == 0
  clock = training_loop.TrainClock(budget_s=config.train.budget_hours * 3600)
  state = training_loop.restore_or_init(checkpointer, trainer.abstract_state, trainer.init, config.seed,
                                        train_iter, clock)
  if checkpointer.latest_step() is None and config.train.init_from:
    state = warm_start.apply(config, state, mesh)  # only at the first start; a restart resumes its own
  final_eval_missing = config.eval.at_end and not (epath.Path(workdir) / "eval" / "metrics.json").exists()
  if clock.out_of_time and not final_eval_missing:
    print(f"already finished: {workdir} has spent its time budget ({clock.hours:.2f} h of training, "
          f"train.budget_hours={config.train.budget_hours:g}); raise --config.train.budget_hours to train further")
    return state
  if is_main:  # only once the start is sure: a refused resume leaves both files as they were
    trajectory, changes, start_step = start_record
    kinds = sorted({d.device_kind for d in mesh.devices.flat})
    resume_guard.record(workdir, trajectory, config.to_dict(), start_step, changes,
                        devices=f"{mesh.devices.size} x {'/'.join(kinds)}")
    _write_config(workdir, config)

  writer = train_logs.create_writer(workdir, is_main)
  logging.info("G %.2fM params, D %.2fM params, %d devices, global batch %d",
               state_lib.count_params(state.g_params) / 1e6, state_lib.count_params(state.d_params) / 1e6,
               mesh.devices.size, config.train.global_batch)
  evaluation = None

  def evaluate(state, step, stem=None):
    nonlocal evaluation  # built at the first evaluation: it loads the judges and scores the baselines
    evaluation = evaluation or periodic.PeriodicEvaluation(config)
    return evaluation(state, step, workdir, stem=stem)

  def due_every(n, skip_last=False):
    """On process 0, every n steps and at the last one (n = 0: never)."""
    return lambda step, last: bool(is_main and n and (step % n == 0 or last) and not (last and skip_last))

  loop = training_loop.Loop(
      compile_step=trainer.compiled_step,
      next_batch=lambda step: _next_batch(train_iter, mesh, step, config), data_iterator=train_iter,
      checkpointer=checkpointer, writer=writer, num_steps=config.train.num_steps, clock=clock,
      examples_per_step=config.train.global_batch * config.train.d_steps, log_every=config.log_every,
      checkpoint_every=config.checkpoint_every,
      divergence_advice="lower the learning rates or use float32 compute",
      periodic=[training_loop.Periodic(due_every(config.image_every), _grid_writer(trainer, config, workdir, writer)),
                # with eval.at_end the final evaluation below covers the last step
                training_loop.Periodic(due_every(config.eval.every, skip_last=config.eval.at_end), evaluate),
                training_loop.Periodic(due_every_hours(clock, config.eval.every_hours if is_main else 0,
                                                       skip_last=config.eval.at_end), evaluate)])
  state, step = training_loop.run(loop, state)
  finished = step == config.train.num_steps or clock.out_of_time
  # The final checkpoint is complete on disk before anything else that can fail runs.
  checkpointer.wait()
  if is_main and config.eval.at_end and finished:
    writer.write_scalars(step, {**evaluate(state, step, stem="metrics"), "train_hours": clock.hours})
  checkpointer.close()
  writer.flush()
  writer.close()
  if is_main:
    print(run_summary(workdir, step, config.train.num_steps, finished=finished, clock=clock), flush=True)
  return state


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


SUMMARY_METRICS = ("psnr", "phi_top1_agreement", "identifiability_accuracy", "retrieval_top1_feature_in_class",
                   "instance_gain_db")


def run_summary(workdir: str, step: int, num_steps: int, finished: bool = None, clock=None) -> str:
  """What the user looks at next: where the outputs are and the headline numbers (mean [95% CI],
  beside the class-mean baseline) of the final evaluation, else of the newest periodic one.
  finished: the run ended (its steps or its time budget done); None: step == num_steps."""
  root = epath.Path(workdir)
  finished = step == num_steps if finished is None else finished
  if finished and step < num_steps:
    done = f"finished step {step} (its time budget, train.budget_hours={clock.budget_s / 3600:g})"
  elif finished:
    done = f"finished step {step}"
  else:
    done = f"stopped at step {step} of {num_steps} (rerun to resume)"
  lines = [f"{done} in {workdir}", f"  checkpoints: {root / 'checkpoints'}"]
  if clock is not None and clock.seconds:
    lines.append(f"  training time: {clock.hours:.3f} h (without compilation and evaluations; summed over resumes)")
  images = sorted((root / "images").glob("step_*.png")) if (root / "images").exists() else []
  if images:
    lines.append(f"  image grids: {root / 'images'} (newest {images[-1].name})")
  evaluations = [root / "eval" / "metrics.json"] if (root / "eval" / "metrics.json").exists() else \
      sorted((root / "eval").glob("metrics_step_*.json")) if (root / "eval").exists() else []
  if evaluations:
    record = json.loads(files.read_pair(evaluations[-1], evaluations[-1].with_suffix(".md")))
    lines.append(f"  evaluation: {evaluations[-1].with_suffix('.md')} (step {record.get('step')}, "
                 f"{record.get('num_examples')} held-out examples)")
    baselines = record.get("baselines") or {}
    for name in SUMMARY_METRICS:
      m = record["metrics"].get(name)
      if m and m.get("mean") is not None:
        beside = [f"{label} {b[name]['mean']:.3f}" for label, b in
                  (("class-mean baseline", baselines.get("class_mean") or {}),
                   ("nearest logits", baselines.get("nearest_logits") or {}))
                  if (b.get(name) or {}).get("mean") is not None]
        lines.append(f"    {name} {m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
                     + ("   " + ", ".join(beside) if beside else ""))
  return "\n".join(lines)


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
  is there under that name must have been built from this source and classifier (make_logits checks)."""
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
  make_logits.build_logits_dataset(d.source, d.classifier, d.data_dir, name=d.dataset)


def _open_data_on_every_process(config):
  """Every process opens its shard; if any cannot (e.g. the dataset is missing on some hosts), all
  stop with one error naming them."""
  return sharding.on_every_process(
      lambda: pipeline.make_train_iterator(config),
      "the data could not be opened on process(es) {processes} of {count} ({error}); put the dataset on "
      "every host or on storage all hosts share (--config.data.data_dir)")


def _check_free_space(workdir: str, abstract):
  """A full disk would fail the first checkpoint after a long compile; fail now instead."""
  import shutil
  need = checkpointing.checkpoint_bytes(abstract)
  if files.is_remote(workdir):  # object storage: no quota to query
    return
  free = shutil.disk_usage(workdir).free
  if free < 2 * need:
    raise BiglogitError(f"workdir {workdir} has {free / 2**20:.1f} MiB free but a checkpoint needs "
                        f"about {need / 2**20:.1f} MiB (keep twice that free); free space or pick "
                        "another --workdir")


def _check_workdir_writable(workdir: str):
  try:
    epath.Path(workdir).mkdir(parents=True, exist_ok=True)
    probe = epath.Path(workdir) / f".write_probe_{jax.process_index()}"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    raise BiglogitError(f"workdir {workdir} is not writable ({e.strerror}); pick another --workdir") from e
