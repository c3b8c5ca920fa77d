"""train_and_evaluate(config, workdir): mesh, init (abstract, then sharded), the loop, periodic
checkpoints / logs / image grids, resume, and clean stops (NaN, SIGTERM)."""
import dataclasses
import functools
import os
import signal
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from biglogit import BiglogitError
from biglogit import checkpointing
from biglogit import metrics as metrics_lib
from biglogit import sharding
from biglogit import state as state_lib
from biglogit import steps
from biglogit.data import pipeline
from biglogit.models import arch as arch_lib


@dataclasses.dataclass
class Trainer:
  """Everything jit needs, built once per (config, mesh)."""
  generator: Any
  discriminator: Any
  g_tx: Any
  d_tx: Any
  mesh: Any
  state_sharding: Any
  init: Callable
  step: Callable
  reconstruct: Callable  # jitted steps.reconstruct (params, g_stats, logits, eps) -> images


def validate_config(config, mesh):
  """Cheap checks that must fail before any compile or write."""
  m, t = config.model, config.train
  arch_lib.g_arch(m.resolution)
  arch_lib.d_arch(m.resolution)
  arch_lib.latent_chunks(m.dim_z, len(arch_lib.g_arch(m.resolution).out_mult))
  if m.compute_dtype not in state_lib.COMPUTE_DTYPES:
    raise BiglogitError(f"model.compute_dtype={m.compute_dtype!r}; use one of {sorted(state_lib.COMPUTE_DTYPES)}")
  if t.d_steps < 1:
    raise BiglogitError(f"train.d_steps={t.d_steps}; use at least 1")
  sharding.check_batch_divisible(t.global_batch, mesh)


def build_trainer(config, mesh) -> Trainer:
  generator, discriminator = state_lib.build_models(config.model)
  g_tx, d_tx = state_lib.build_optimizers(config.train)
  init_fn = functools.partial(state_lib.init_state, config=config, generator=generator,
                              discriminator=discriminator, g_tx=g_tx, d_tx=d_tx)
  abstract = jax.eval_shape(init_fn, jax.random.key(0))
  state_sharding = sharding.state_shardings(abstract, mesh)
  step_fn = functools.partial(steps.train_step, generator=generator, discriminator=discriminator,
                              g_tx=g_tx, d_tx=d_tx, config=config)
  batch_sh = sharding.batch_sharding(mesh, batch_axis=1)  # [d_steps, B, ...]
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  jit_step = jax.jit(step_fn, in_shardings=(state_sharding, batch_sh),
                     out_shardings=(state_sharding, replicated), donate_argnums=0)
  jit_init = jax.jit(init_fn, out_shardings=state_sharding)
  jit_reconstruct = jax.jit(functools.partial(steps.reconstruct, generator=generator))
  return Trainer(generator, discriminator, g_tx, d_tx, mesh, state_sharding, jit_init, jit_step,
                 jit_reconstruct)


def abstract_state(trainer: Trainer, config):
  init_fn = functools.partial(state_lib.init_state, config=config, generator=trainer.generator,
                              discriminator=trainer.discriminator, g_tx=trainer.g_tx, d_tx=trainer.d_tx)
  shapes = jax.eval_shape(init_fn, jax.random.key(0))
  return jax.tree_util.tree_map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                                shapes, trainer.state_sharding)


class _StopRequested:
  """SIGTERM (TPU VM / SLURM preemption notice) asks the loop to checkpoint and exit cleanly."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread (e.g. a notebook worker): no handler
      self._previous = None
    return self

  def _handle(self, signum, frame):
    logging.warning("SIGTERM received: checkpointing and exiting")
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _grid_images(trainer, state, examples, config):
  """Columns: original | G(z, eps1) | G(z, eps2), with the EMA generator."""
  logits = jnp.asarray(examples["logits"])
  rng1, rng2 = jax.random.split(jax.random.key(config.seed + 1))
  outs = [metrics_lib.to_uint8(trainer.reconstruct(state.ema_params, state.g_stats, logits,
                                                   steps.sample_eps(r, logits.shape[0], config.model.dim_z)))
          for r in (rng1, rng2)]
  return metrics_lib.image_grid([examples["image"]] + outs)


def train_and_evaluate(config, workdir: str):
  mesh = sharding.make_mesh()
  validate_config(config, mesh)
  # Opening the data validates it against the model before anything is compiled or written.
  train_iter, spec = pipeline.make_train_iterator(config)
  checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints,
                                            checkpointing.architecture_signature(config))
  checkpointer.check_compatible()
  _check_workdir_writable(workdir)

  trainer = build_trainer(config, mesh)
  latest = checkpointer.latest_step()
  if latest is None:
    state = trainer.init(jax.random.key(config.seed))
  else:
    state, data_state = checkpointer.restore(latest, abstract_state(trainer, config))
    train_iter.set_state(data_state)
    logging.info("resumed from step %d in %s", latest, workdir)
  start = int(state.step)

  is_main = jax.process_index() == 0
  writer = metrics_lib.create_writer(workdir, is_main)
  grid_examples = pipeline.fixed_examples(config.data.dataset, config.data.eval_split or config.data.train_split,
                                          config.data.data_dir, config.num_grid_images)
  g_count = state_lib.count_params(state.g_params)
  d_count = state_lib.count_params(state.d_params)
  logging.info("G %.2fM params, D %.2fM params, %d devices, global batch %d", g_count / 1e6,
               d_count / 1e6, mesh.devices.size, config.train.global_batch)

  progress = metrics_lib.Progress(config.train.num_steps, config.train.global_batch, start)
  accumulated = None
  step = start
  with _StopRequested() as stop:
    while step < config.train.num_steps:
      batch = sharding.to_global(next(train_iter), mesh, batch_axis=1)
      state, step_metrics = trainer.step(state, batch)
      step += 1
      host_metrics = jax.device_get(step_metrics)
      bad = [k for k, v in host_metrics.items() if not np.isfinite(v)]
      if bad:
        checkpointer.close()
        raise BiglogitError(f"non-finite {', '.join(bad)} at step {step}; stopped without saving, the "
                            f"last good checkpoint (step {checkpointer.latest_step()}) is intact; "
                            "lower the learning rates or use float32 compute")
      update = metrics_lib.TrainMetrics.single_from_model_output(**host_metrics)
      accumulated = update if accumulated is None else accumulated.merge(update)
      if step % config.log_every == 0 or step == config.train.num_steps:
        scalars = {k: float(v) for k, v in accumulated.compute().items()}
        rate = progress.report(step)
        writer.write_scalars(step, {**scalars, **rate})
        logging.info(metrics_lib.Progress.line(step, config.train.num_steps, scalars, rate))
        accumulated = None
      if is_main and config.image_every and (step % config.image_every == 0 or step == config.train.num_steps):
        grid = _grid_images(trainer, state, grid_examples, config)
        metrics_lib.save_png(os.path.join(workdir, "images", f"step_{step:08d}.png"), grid, upscale=2)
        writer.write_images(step, {"original|recon_eps1|recon_eps2": grid})
      if step % config.checkpoint_every == 0 or step == config.train.num_steps or stop.requested:
        checkpointer.save(step, state, train_iter.get_state())
      if stop.requested:
        break
  checkpointer.close()
  writer.flush()
  writer.close()
  return state


def _check_workdir_writable(workdir: str):
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, ".write_probe")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise BiglogitError(f"workdir {workdir} is not writable ({e.strerror}); pick another --workdir") from e
