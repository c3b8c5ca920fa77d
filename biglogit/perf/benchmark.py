"""python -m biglogit.perf.benchmark --config=configs/<file>.py [--steps=10] [--loop_steps=N] [--config.x=...]

Times the GAN train step of any config on the available devices, on synthetic data (no dataset
needed), and prints compile time, images/s and the step's FLOPs from XLA's cost analysis, so that
MFU = flops_per_step * steps_per_s / peak_flops can be computed on a GPU/TPU.
--loop_steps=N also runs the real training loop (the config's dataset, Grain input pipeline, metric
logging) for N steps in a temporary workdir and prints its logged images/s beside the step's.
--input_batches=N times the config's input pipeline alone (its dataset, read threads and prefetch; no
model) over N batches of [d_steps, global_batch]: the ceiling it puts on one run's steps/s. --steps=0
skips the train step (and its compilation), e.g. to time only the input pipeline.
"""
import json
import os
import tempfile
import time

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from biglogit import host, sharding, train
from biglogit import preflight
from biglogit import trainer as trainer_lib
from biglogit.data import pipeline
from biglogit import cli

FLAGS = flags.FLAGS  # defined under __main__, so that profile_step can import synthetic_batch


def synthetic_batch(config):
  t, m = config.train, config.model
  rng = np.random.default_rng(0)
  return {"image": rng.integers(0, 255, (t.d_steps, t.global_batch, m.resolution, m.resolution, 3),
                                dtype=np.uint8),
          "logits": rng.normal(size=(t.d_steps, t.global_batch, m.num_classes)).astype(np.float32)}


def with_synthetic_statistics(config):
  """(config, note): synthetic logits are N(0, 1) per dimension, so a standardising config without the
  statistics that a logits dataset would give it gets mean 0 and std 1 (what those logits have). A
  config that holds statistics, or normalises otherwise, is returned as it is (note '')."""
  c = config.get("conditioning")
  if c is None or c.normalize != "standardize" or c.get("mean"):
    return config, ""
  num_classes = int(config.model.num_classes)
  with config.unlocked():
    config.conditioning.mean, config.conditioning.std = [0.0] * num_classes, [1.0] * num_classes
  return config, "synthetic logits, synthetic conditioning statistics (mean 0, std 1)"


def loop_images_per_s(config, steps: int) -> float:
  """The training loop's own figure: images/s it logs over its second half (the first half holds
  compilation and warm-up), with checkpointing, images and evaluation out of the way."""
  c = config.copy_and_resolve_references()
  c.train.num_steps = steps
  c.log_every = max(1, steps // 2)
  c.checkpoint_every = steps
  c.image_every = 0
  c.eval.every = 0
  c.eval.at_end = False
  with tempfile.TemporaryDirectory() as workdir:
    train.train_and_evaluate(c, workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      rows = [json.loads(line) for line in f if "images_per_s" in line]
  return rows[-1]["images_per_s"]


def step_flops(compiled, devices: int, grad_accum: int) -> float:
  """FLOPs of one train step over all devices. XLA's cost analysis of a partitioned program counts one
  device's share, and counts a loop's body once: with grad_accum=k the step scans k micro-batches."""
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", float("nan"))) * devices * grad_accum if cost else float("nan")


def input_pipeline_rate(config, batches: int) -> dict:
  """Batches/s of the training input pipeline alone, after a warm-up that fills its prefetch buffer
  (the figure a run's steps/s cannot exceed however fast its devices are)."""
  iterator, _ = pipeline.make_train_iterator(config)
  for _ in range(max(2, config.data.prefetch)):
    next(iterator)
  t0 = time.time()
  for _ in range(batches):
    next(iterator)
  rate = batches / (time.time() - t0)
  return {"input_batches_per_s": rate,
          "input_images_per_s": rate * config.train.global_batch * max(1, config.train.d_steps),
          "input_read_threads": config.data.num_read_threads, "input_workers": config.data.worker_count,
          "input_cores": len(os.sched_getaffinity(0))}  # e.g. fewer under taskset: the rate per core


def main(argv):
  del argv
  config = FLAGS.config
  if FLAGS.steps < 0 or FLAGS.input_batches < 0:
    raise app.UsageError("--steps and --input_batches count batches: use 0 or more")
  if FLAGS.steps == 0 and not FLAGS.input_batches:
    raise app.UsageError("--steps=0 times nothing: add --input_batches=N or time some steps")
  host.use_every_cpu_core(config.train.global_batch)  # as main does
  host.enable_compilation_cache(FLAGS.compile_cache)
  measured = {}
  if FLAGS.input_batches:
    measured.update(input_pipeline_rate(config, FLAGS.input_batches))
  if FLAGS.steps == 0:
    print(json.dumps({"global_batch": config.train.global_batch, "d_steps": config.train.d_steps,
                      **measured}))
    return
  mesh = sharding.make_mesh()
  config, note = with_synthetic_statistics(config)
  preflight.validate_config(config, mesh)
  trainer = trainer_lib.build_trainer(config, mesh, config.deepsim.comparator)
  state = trainer.init(jax.random.key(0))
  batch = sharding.to_global(synthetic_batch(config), mesh, batch_axis=1)
  t0 = time.time()
  compiled = trainer.step.lower(state, batch, trainer.aux).compile()
  compile_s = time.time() - t0
  flops_total = step_flops(compiled, mesh.devices.size, config.train.grad_accum)
  state, m = compiled(state, batch, trainer.aux)
  jax.block_until_ready(m)
  t0 = time.time()
  for _ in range(FLAGS.steps):
    state, m = compiled(state, batch, trainer.aux)
  jax.block_until_ready(m)
  dt = (time.time() - t0) / FLAGS.steps
  images = config.train.global_batch * config.train.d_steps  # real images consumed per step
  loop = {}
  if FLAGS.loop_steps:
    if FLAGS.loop_steps < 4:
      raise app.UsageError("--loop_steps needs at least 4 steps (half of them are timed)")
    loop_rate = loop_images_per_s(config, FLAGS.loop_steps)
    loop = {"loop_images_per_s": loop_rate, "loop_over_step": loop_rate * dt / images}
  print(json.dumps({
      "devices": f"{mesh.devices.size} x {jax.devices()[0].device_kind}",
      "global_batch": config.train.global_batch, "d_steps": config.train.d_steps,
      "compute_dtype": config.model.compute_dtype, "compile_s": round(compile_s, 2),
      "step_s": dt, "steps_per_s": 1 / dt, "images_per_s": images / dt,
      "flops_per_step": flops_total, "achieved_tflops": flops_total / dt / 1e12,
      "compile_cache": FLAGS.compile_cache or "off", **({"data": note} if note else {}), **loop, **measured}))


if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
  flags.DEFINE_integer("steps", 10, "Timed steps after compilation and one warm-up step (0: none).",
                       lower_bound=0, upper_bound=100_000)
  flags.DEFINE_integer("input_batches", 0, "Also time the input pipeline alone over N batches (0: off).",
                       lower_bound=0, upper_bound=100_000)
  flags.DEFINE_integer("loop_steps", 0, "Also time N steps of the real training loop (0: off).",
                       lower_bound=0, upper_bound=100_000)
  flags.DEFINE_string("compile_cache", host.default_compile_cache(),
                      "Folder of JAX's persistent compilation cache ('' = off, for a cold compile time).")
  flags.mark_flags_as_required(["config"])
  cli.run(main)
