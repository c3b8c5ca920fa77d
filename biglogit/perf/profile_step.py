"""python -m biglogit.perf.profile_step --config=configs/<file>.py [--repeats=5] [--config.x=...]

Where a GAN step's time goes: the pieces of steps.train_step timed one by one, each jitted alone on
the same devices, state and synthetic batch as the step (python -m biglogit.perf.benchmark), beside the
whole step. Prints one JSON line per piece: seconds (median of --repeats), its share of the step, and
its FLOPs from XLA's cost analysis with the GFLOP/s reached. The pieces overlap a little with what XLA
fuses across them inside the step, so the shares need not sum to 1.

--top_ops=N also records the whole step with the JAX profiler and prints the N operations that took
the most device time, named by the model code they come from (the `op_name` XLA keeps in the
optimised HLO), summed over devices and averaged over --repeats steps. On a CPU host split into
several devices, device time adds up to more than the wall time of the step.
"""
import collections
import gzip
import json
import os
import re
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
from absl import flags
from ml_collections import config_flags

from biglogit import host, losses, sharding, steps
from biglogit import preflight
from biglogit import trainer as trainer_lib
from biglogit import cli
from biglogit.perf.benchmark import synthetic_batch, with_synthetic_statistics

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
flags.DEFINE_integer("repeats", 5, "Timed calls per piece (after one untimed call).", lower_bound=1, upper_bound=10_000)
flags.DEFINE_string("compile_cache", host.default_compile_cache(), "JAX compilation cache ('' = off).")
flags.DEFINE_integer("top_ops", 0, "Also trace the step and print its N most expensive operations.",
                     lower_bound=0, upper_bound=10_000)


def _time(fn, args, repeats):
  compiled = jax.jit(fn).lower(*args).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost.get("flops", 0.0)) if cost else 0.0
  jax.block_until_ready(compiled(*args))
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - t0)
  return statistics.median(times), flops


def _op_names(hlo_text: str):
  """HLO instruction name -> the op_name of its metadata (which model code it came from)."""
  names = {}
  for line in hlo_text.splitlines():
    m = re.match(r'\s*(?:ROOT )?%?(\S+) = .*?op_name="([^"]+)"', line)
    if m:
      names[m.group(1)] = m.group(2)
  return names


def top_operations(compiled, args, repeats: int, top: int):
  """[(milliseconds per step summed over devices, share, op_name)] of the traced step's costliest ops."""
  jax.block_until_ready(compiled(*args))
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir):
      for _ in range(repeats):
        jax.block_until_ready(compiled(*args))
    trace_files = [os.path.join(d, f) for d, _, fs in os.walk(trace_dir) for f in fs
                   if f.endswith(".trace.json.gz")]
    with gzip.open(trace_files[0]) as f:
      events = json.load(f)["traceEvents"]
  names = _op_names(compiled.as_text())
  micros = collections.Counter()
  for e in events:
    op = (e.get("args") or {}).get("hlo_op")
    if e.get("ph") == "X" and op:
      name = re.sub(r"jit\([^)]*\)/", "", names.get(op, op))
      # an all-reduce combined across layers names them all: keep the start
      micros[name if len(name) <= 160 else name[:157] + "..."] += e["dur"]
  total = sum(micros.values())
  return [(us / repeats / 1e3, us / total, name) for name, us in micros.most_common(top)]


def pieces(trainer, config, state, batch):
  """name -> (function, args): the parts of one train step, in the order the step runs them."""
  g, d = trainer.generator, trainer.discriminator
  real = steps.images_to_float(batch["image"][0])
  logits = batch["logits"][0]
  key = jax.random.key(0)

  def g_forward(g_params, g_stats, logits):
    eps = steps.sample_eps(key, logits.shape[0], config.model.dim_z)
    return g.apply({"params": g_params, "batch_stats": g_stats}, logits, eps, train=True,
                   mutable=["batch_stats"])[0]

  def d_loss(d_params, d_stats, real, fake, logits):
    out, _ = d.apply({"params": d_params, "batch_stats": d_stats}, jnp.concatenate([real, fake]),
                     jnp.concatenate([logits, logits]), train=True, mutable=["batch_stats"])
    d_real, d_fake = jnp.split(out, 2)
    return losses.discriminator_loss(d_real, d_fake)

  def g_loss(g_params, g_stats, d_params, d_stats, logits):
    fake = g_forward(g_params, g_stats, logits)
    return losses.generator_loss(d.apply({"params": d_params, "batch_stats": d_stats}, fake, logits,
                                         train=False))

  fake = jax.jit(g_forward)(state.g_params, state.g_stats, logits)
  d_grads = jax.jit(jax.grad(d_loss))(state.d_params, state.d_stats, real, fake, logits)
  g_grads = jax.jit(jax.grad(g_loss))(state.g_params, state.g_stats, state.d_params, state.d_stats, logits)
  return {
      "G forward (train mode), one sub-batch": (g_forward, (state.g_params, state.g_stats, logits)),
      "D forward on real+fake": (d_loss, (state.d_params, state.d_stats, real, fake, logits)),
      "D forward+backward (one D sub-step)": (jax.value_and_grad(d_loss),
                                              (state.d_params, state.d_stats, real, fake, logits)),
      "G+D forward, backward to G (the G step)": (jax.value_and_grad(g_loss),
                                                  (state.g_params, state.g_stats, state.d_params,
                                                   state.d_stats, logits)),
      "D optimiser update": (lambda gr, o, p: trainer.d_tx.update(gr, o, p),
                             (d_grads, state.d_opt, state.d_params)),
      "G optimiser update": (lambda gr, o, p: trainer.g_tx.update(gr, o, p),
                             (g_grads, state.g_opt, state.g_params)),
  }


def main(argv):
  del argv
  config = FLAGS.config
  host.use_every_cpu_core(config.train.global_batch)
  host.enable_compilation_cache(FLAGS.compile_cache)
  mesh = sharding.make_mesh()
  config, note = with_synthetic_statistics(config)
  if note:
    print(json.dumps({"data": note}))
  preflight.validate_config(config, mesh)
  trainer = trainer_lib.build_trainer(config, mesh)
  state = trainer.init(jax.random.key(0))
  batch = sharding.to_global(synthetic_batch(config), mesh, batch_axis=1)
  step_fn = lambda s, b: trainer.step(s, b, trainer.aux)
  step_s, step_flops = _time(step_fn, (state, batch), FLAGS.repeats)
  if FLAGS.top_ops:
    compiled = jax.jit(step_fn).lower(state, batch).compile()
    for ms, share, name in top_operations(compiled, (state, batch), FLAGS.repeats, FLAGS.top_ops):
      print(json.dumps({"op": name, "device_ms_per_step": round(ms, 1), "share_of_device_time": round(share, 3)}))
  devices = mesh.devices.size
  rows = [("whole train step", step_s, step_flops)]
  for name, (fn, args) in pieces(trainer, config, state, batch).items():
    rows.append((name,) + _time(fn, args, FLAGS.repeats))
  for name, seconds, flops in rows:
    # cost_analysis counts one device's share of a partitioned program
    print(json.dumps({"piece": name, "seconds": round(seconds, 4), "share_of_step": round(seconds / step_s, 3),
                      "gflop": round(flops * devices / 1e9, 3),
                      "gflop_per_s": round(flops * devices / seconds / 1e9, 1), "devices": devices,
                      "d_steps": config.train.d_steps}))


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  cli.run(main)
