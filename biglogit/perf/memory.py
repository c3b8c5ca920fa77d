"""python -m biglogit.perf.memory --config=configs/robust_r152.py --devices=8 [--config.train.grad_accum=4]

Memory and FLOPs per device of a config's real training step, without the hardware: the step is
compiled ahead of time (never run) on a mesh of `--devices` simulated CPU devices, and XLA's reports
of that program are printed as one JSON line per config:
  state bytes per device   parameters, optimiser moments, the EMA of G, statistics (every parameter is
                           replicated: sharding.py), from the state's shapes and shardings
  temp bytes               XLA's temporary buffers (activations kept for the backward pass and
                           workspace), from memory_analysis()
  peak estimate            arguments + outputs - donated (aliased) + temporaries
  flops per step           cost_analysis() of one device's program, times the device count (and times
                           grad_accum: XLA counts the micro-batch loop's body once)
and, for each accelerator in ACCELERATORS, whether the peak estimate fits its memory.
These are CPU buffer assignments: an accelerator's compiler lays out, fuses and rematerialises
differently (and the CPU backend computes bfloat16 convolutions in float32), so they estimate the
accelerator's figures; docs/scaling.md says how far they were checked against a GPU.
No dataset is read: batches and conditioning statistics are synthetic (perf.benchmark).
"""
import hashlib
import json
import os
import time

import jax
import numpy as np
from absl import flags
from ml_collections import config_flags

from biglogit import BiglogitError, cli, host, sharding
from biglogit import limits
from biglogit import preflight
from biglogit import trainer as trainer_lib
from biglogit.perf import benchmark

FLAGS = flags.FLAGS

GIB = 1 << 30
# Memory per device (HBM) of the accelerators a pod user rents; a config "fits" where the peak
# estimate leaves 10% of it for the runtime, the input pipeline's device buffers and fragmentation.
ACCELERATORS = {"TPU v4 (32 GiB)": 32 * GIB, "TPU v5e (16 GiB)": 16 * GIB, "H100 (80 GB)": 80 * 10**9}
HEADROOM = 0.9


def simulate_cpu_devices(count: int):
  """Makes jax's CPU backend hold `count` devices; only possible before jax has started a backend."""
  flag = f"--xla_force_host_platform_device_count={count}"
  os.environ["XLA_FLAGS"] = " ".join(
      [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f] + [flag])
  jax.config.update("jax_platforms", "cpu")
  if jax.device_count() != count:
    raise BiglogitError(f"jax started with {jax.device_count()} devices before --devices={count} could be set; "
                        "run python -m biglogit.perf.memory in a fresh process")


def bytes_per_device(tree) -> int:
  """Bytes one device holds of a tree of ShapeDtypeStructs with shardings."""
  total = 0
  for leaf in jax.tree_util.tree_leaves(tree):
    shape = leaf.sharding.shard_shape(leaf.shape)
    total += int(np.prod(shape, dtype=np.int64)) * np.dtype(leaf.dtype).itemsize
  return total


def state_bytes(abstract_state) -> dict:
  parts = {"params": ("g_params", "d_params"), "optimizer": ("g_opt", "d_opt"), "ema": ("ema_params",),
           "statistics": ("g_stats", "d_stats")}
  return {name: sum(bytes_per_device(getattr(abstract_state, f)) for f in fields)
          for name, fields in parts.items()}


def measure(config, devices: int, name: str = "") -> dict:
  """The report of one config on a mesh of the first `devices` devices."""
  mesh = sharding.make_mesh(jax.devices()[:devices])
  config, note = benchmark.with_synthetic_statistics(config)
  preflight.validate_config(config, mesh)
  trainer = trainer_lib.build_trainer(config, mesh, config.deepsim.comparator)
  t, m = config.train, config.model
  batch = {"image": jax.ShapeDtypeStruct((t.d_steps, t.global_batch, m.resolution, m.resolution, 3), np.uint8,
                                         sharding=sharding.batch_sharding(mesh, batch_axis=1)),
           "logits": jax.ShapeDtypeStruct((t.d_steps, t.global_batch, m.num_classes), np.float32,
                                          sharding=sharding.batch_sharding(mesh, batch_axis=1))}
  start = time.time()
  lowered = trainer.step.lower(trainer.abstract_state, batch, trainer.aux)
  compiled = lowered.compile()
  compile_s = time.time() - start
  # configs that differ only in their data (the three ImageNet ones) compile the same program
  program = hashlib.sha256(lowered.as_text().encode()).hexdigest()[:16]
  memory = compiled.memory_analysis()
  state = state_bytes(trainer.abstract_state)
  arguments, outputs = memory.argument_size_in_bytes, memory.output_size_in_bytes
  aliased, temp = memory.alias_size_in_bytes, memory.temp_size_in_bytes
  peak = arguments + outputs - aliased + temp
  return {
      "config": name, "devices": devices,
      "global_batch": t.global_batch, "per_device_batch": t.global_batch // devices,
      "grad_accum": t.grad_accum, "micro_batch_per_device": t.global_batch // devices // t.grad_accum,
      "d_steps": t.d_steps, "resolution": m.resolution, "compute_dtype": m.compute_dtype,
      **{f"{name}_gib": round(v / GIB, 3) for name, v in state.items()},
      "state_gib": round(sum(state.values()) / GIB, 3),
      "arguments_gib": round(arguments / GIB, 3), "outputs_gib": round(outputs / GIB, 3),
      "aliased_gib": round(aliased / GIB, 3), "temp_gib": round(temp / GIB, 3),
      "peak_estimate_gib": round(peak / GIB, 3),
      "state_bytes": sum(state.values()), "temp_bytes": temp, "peak_estimate_bytes": peak,
      "flops_per_step": benchmark.step_flops(compiled, devices, t.grad_accum),
      "fits": {name: peak <= HEADROOM * size for name, size in ACCELERATORS.items()},
      "program_sha256": program, "compile_s": round(compile_s, 1), "estimate": "CPU buffer assignment (XLA:CPU), not an accelerator's",
      **({"data": note} if note else {})}


def main(argv):
  del argv
  simulate_cpu_devices(FLAGS.devices)
  host.enable_compilation_cache(FLAGS.compile_cache)
  name = config_flags.get_config_filename(FLAGS["config"])
  print(json.dumps(measure(FLAGS.config, FLAGS.devices, name)), flush=True)


if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
  flags.DEFINE_integer("devices", 8, "Simulated CPU devices of the mesh (the topology's chip count).",
                       lower_bound=1, upper_bound=limits.MAX_PROCESSES)
  flags.DEFINE_string("compile_cache", host.default_compile_cache(),
                      "Folder of JAX's persistent compilation cache ('' = off).")
  flags.mark_flags_as_required(["config"])
  cli.run(main)
