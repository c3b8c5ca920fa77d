"""Host settings that must be made before JAX starts, and what the host is."""
import os
import platform
import sys

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
# The fastest count on 2 cores (docs/performance.md#several-xla-devices-per-core-175x-then-127x-more).
DEVICES_PER_CORE = 2


def use_every_cpu_core(global_batch: int) -> int:
  """Split the CPU into two XLA devices per core (the largest count up to that which divides the
  global batch), unless XLA_FLAGS already sets a device count. Returns the count in effect (0 if
  left alone).

  Why: one XLA CPU device leaves part of the CPU idle while its convolutions wait on memory; more
  devices with the batch sharded over them give it independent convolutions to overlap
  (docs/performance.md#several-xla-devices-per-core-175x-then-127x-more). Batch-norm statistics stay
  global (the mesh reduces them), so only the float reduction order changes. GPU/TPU hosts keep their
  accelerators as the default devices; the extra CPU devices go unused there.
  """
  if DEVICE_COUNT_FLAG in os.environ.get("XLA_FLAGS", "") or _backends_started():
    return 0
  cores = os.cpu_count() or 1
  count = max(k for k in range(1, DEVICES_PER_CORE * cores + 1) if global_batch % k == 0)
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {DEVICE_COUNT_FLAG}={count}".strip()
  return count


def cpu_model() -> str:
  """The CPU's model name and core count, e.g. 'AMD EPYC, 2 cores' (as a VM names it).

  Why: a run's budget and its curves' x axis are hours of training, and the same hour is a different
  number of steps on another CPU (docs/measurements.md#numbers-behind-the-code), so each start of a
  run records the machine it ran on (resume_guard.record).
  """
  name = ""
  try:
    with open("/proc/cpuinfo") as f:
      name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
  except OSError:
    pass
  return f"{name or platform.processor() or platform.machine() or 'unknown CPU'}, {os.cpu_count() or 1} cores"


def _backends_started() -> bool:
  """XLA reads the device count when JAX first creates its backends; after that it is fixed."""
  if "jax" not in sys.modules:
    return False
  from jax._src import xla_bridge
  return bool(getattr(xla_bridge, "_backends", None))


COMPILE_CACHE_ENV = "BIGLOGIT_COMPILE_CACHE"


def default_compile_cache() -> str:
  """$BIGLOGIT_COMPILE_CACHE if set ('' turns the cache off), else ~/.cache/biglogit/xla."""
  default = os.path.join(os.path.expanduser("~"), ".cache", "biglogit", "xla")
  return os.environ.get(COMPILE_CACHE_ENV, default)


def enable_compilation_cache(path: str) -> str:
  """JAX's persistent compilation cache in `path` ('' = off). Returns the path in effect.

  Why: compiling the GAN step costs 13-25 s on this CPU at every start (each resume, each test, each
  benchmark); a hit costs a few seconds. Safe for several processes and runs sharing one folder: JAX
  writes each entry atomically under a key that includes the program, the devices and the flags.
  Multi-process training also waits at a barrier after compiling (training_loop.run), so a process that hits
  the cache never waits in a collective while another still compiles.
  """
  if not path:
    return ""
  import jax
  jax.config.update("jax_compilation_cache_dir", path)
  # Programs that compile in under half a second are cheaper to recompile than to read back.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
