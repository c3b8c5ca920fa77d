"""Device mesh, partition rules and host-to-global-array transfer.

The mesh has one axis, 'data': the global batch is split over it and every parameter is replicated.
Partition rules are (regex over the '/'-joined parameter path, PartitionSpec) pairs, first match wins;
they exist so that a 'model' axis can later shard the widest layers without touching the trainer.
"""
import re
from typing import Sequence, Tuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from biglogit import BiglogitError

DATA_AXIS = "data"

# Everything is replicated today; the catch-all rule states that explicitly.
DEFAULT_RULES: Tuple[Tuple[str, P], ...] = ((r".*", P()),)


def make_mesh(devices: Sequence[jax.Device] = None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def check_batch_divisible(global_batch: int, mesh: Mesh, what: str = "train.global_batch", micro_batches: int = 1):
  n = mesh.devices.size
  if global_batch % n:
    raise BiglogitError(
        f"{what}={global_batch} is not divisible by the {n} devices of the mesh; "
        f"use a multiple of {n} (e.g. {max(n, global_batch // n * n)})")
  if global_batch % jax.process_count():
    raise BiglogitError(f"{what}={global_batch} is not divisible by the {jax.process_count()} processes")
  if micro_batches > 1 and (global_batch // n) % micro_batches:
    # steps.micro_batches keeps each device's rows on it only when they split into k equal parts
    raise BiglogitError(f"train.grad_accum={micro_batches} does not divide the {global_batch // n} rows of each of the "
                        f"{n} devices ({what}={global_batch}); use a {what} that is a multiple of "
                        f"{n * micro_batches}, or a train.grad_accum that divides {global_batch // n}")


def _path_str(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def state_shardings(abstract_state, mesh: Mesh, rules=DEFAULT_RULES):
  def spec_for(path, leaf):
    name = _path_str(path)
    for pattern, spec in rules:
      if re.fullmatch(pattern, name):
        return NamedSharding(mesh, spec)
    raise BiglogitError(f"no partition rule matches parameter {name}")
  return jax.tree_util.tree_map_with_path(spec_for, abstract_state)


def sharded_abstract(init_fn, mesh: Mesh):
  """What init_fn(key) builds, as ShapeDtypeStructs carrying the shardings it lives in on `mesh`:
  traced (jax.eval_shape), never initialised. It is the init's output sharding and the restore
  target of a checkpoint."""
  shapes = jax.eval_shape(init_fn, jax.random.key(0))
  return jax.tree_util.tree_map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                                shapes, state_shardings(shapes, mesh))


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
  spec = [None] * batch_axis + [DATA_AXIS]
  return NamedSharding(mesh, P(*spec))


def to_global(local_batch, mesh: Mesh, batch_axis: int = 0):
  """Assemble each process's slice of the batch into global jax.Arrays sharded over 'data'."""
  sharding = batch_sharding(mesh, batch_axis)
  return jax.tree_util.tree_map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch)


def wait_for_every_process(name: str, timeout_s: int = 3600):
  """A barrier through the jax.distributed coordinator (no-op with one process).

  Why not a device collective: on CPU hosts collectives go through gloo, whose rendezvous times out
  when one process arrives long before another (one hit the compilation cache, the other compiles).
  The coordinator's barrier waits as long as it is told. `name` must be unique per barrier.
  """
  if jax.process_count() == 1:
    return
  from jax._src import distributed  # the coordinator client has no public handle; Orbax uses it too
  distributed.global_state.client.wait_at_barrier(name, timeout_in_ms=timeout_s * 1000)


def on_every_process(fn, failure: str):
  """fn() on every process; if it raises a BiglogitError on any of them, every process raises one
  (instead of the others hanging in the next collective). `failure` says what failed, formatted with
  {processes}, {count} and {error} (this process's message, or a pointer to the others' logs)."""
  error, result = "", None
  try:
    result = fn()
  except BiglogitError as e:
    error = str(e)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    failed = np.asarray(multihost_utils.process_allgather(np.int32(bool(error))))
    bad = [int(i) for i in np.flatnonzero(failed)]
    if bad:
      raise BiglogitError(failure.format(processes=bad, count=jax.process_count(),
                                         error=error or "see those processes' logs"))
  if error:
    raise BiglogitError(error)
  return result
