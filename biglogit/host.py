"""Host settings that must be made before JAX starts."""
import os
import sys

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def use_every_cpu_core(global_batch: int) -> int:
  """Split the CPU into as many XLA devices as it has cores (the largest count that divides the
  global batch), unless XLA_FLAGS already sets a device count. Returns the count in effect (0 if
  left alone).

  Why: one XLA CPU device runs this GAN's step on about 1.3 of 2 cores (its convolution filter
  gradients run at 2-6 GFLOP/s, see docs/performance.md); two devices with the batch sharded over
  them ran configs/cifar10_cpu.py 1.75x faster here. Batch-norm statistics stay global (the mesh
  reduces them), so only the float reduction order changes. GPU/TPU hosts keep their accelerators as
  the default devices; the extra CPU devices go unused there.
  """
  if DEVICE_COUNT_FLAG in os.environ.get("XLA_FLAGS", "") or _backends_started():
    return 0
  cores = os.cpu_count() or 1
  count = max(k for k in range(1, cores + 1) if global_batch % k == 0)
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {DEVICE_COUNT_FLAG}={count}".strip()
  return count


def _backends_started() -> bool:
  """XLA reads the device count when JAX first creates its backends; after that it is fixed."""
  if "jax" not in sys.modules:
    return False
  from jax._src import xla_bridge
  return bool(getattr(xla_bridge, "_backends", None))
