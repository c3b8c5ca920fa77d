"""python -m biglogit.profile_step --config=configs/<file>.py [--repeats=5] [--config.x=...]

Where a GAN step's time goes: the pieces of steps.train_step timed one by one, each jitted alone on
the same devices, state and synthetic batch as the step (python -m biglogit.benchmark), beside the
whole step. Prints one JSON line per piece: seconds (median of --repeats), its share of the step, and
its FLOPs from XLA's cost analysis with the GFLOP/s reached. The pieces overlap a little with what XLA
fuses across them inside the step, so the shares need not sum to 1.
"""
import json
import statistics
import time

import jax
import jax.numpy as jnp
from absl import flags
from ml_collections import config_flags

from biglogit import host, losses, sharding, steps, train
from biglogit import cli
from biglogit.benchmark import synthetic_batch

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
flags.DEFINE_integer("repeats", 5, "Timed calls per piece (after one untimed call).")
flags.DEFINE_string("compile_cache", host.default_compile_cache(), "JAX compilation cache ('' = off).")


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
  train.validate_config(config, mesh)
  trainer = train.build_trainer(config, mesh)
  state = trainer.init(jax.random.key(0))
  batch = sharding.to_global(synthetic_batch(config), mesh, batch_axis=1)
  step_s, step_flops = _time(lambda s, b: trainer.step(s, b, trainer.aux), (state, batch), FLAGS.repeats)
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
