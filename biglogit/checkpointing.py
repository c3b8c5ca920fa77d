"""Thin Orbax CheckpointManager wrapper: the state pytree, the Grain iterator state (Grain's own
Orbax handler, one file per process), the architecture signature and a digest of every array are
saved together, one step folder each, written atomically by Orbax; a restore verifies the digest.
Beside them, `progress`: the training time so far (training_loop.TrainClock), which a resumed run
continues from."""
import contextlib
import copy
import json
import os
import shutil
from typing import Any, Dict, Optional

import grain
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from biglogit import BiglogitError
from biglogit import files

ITEMS = ("state", "data", "meta", "digest", "progress")
FORMAT_VERSION = 1


def architecture_signature(config) -> Dict[str, Any]:
  """What must match for a checkpoint to be restorable into this config's state."""
  model = config.model.to_dict()
  model.pop("compute_dtype", None)  # bf16 vs fp32 compute restores the same float32 params
  return {"format_version": FORMAT_VERSION, "kind": config.get("kind", "gan"),
          "method": config.get("method", "gan"),
          "release": config.release.to_dict() if "release" in config else {"kind": "full"}, **model}


def _as_uint32(x, xp):
  """xp: jnp on the device, np on the host; the same bits either way."""
  if x.dtype.itemsize == 4:
    return jax.lax.bitcast_convert_type(x, jnp.uint32) if xp is jnp else x.view(np.uint32)
  if x.dtype.itemsize == 2:
    half = jax.lax.bitcast_convert_type(x, jnp.uint16) if xp is jnp else x.view(np.uint16)
    return half.astype(xp.uint32)
  return x.astype(xp.uint32)  # bool / 8-bit


def _leaf_digest(x, xp):
  """One uint32 per array: the sum over elements of (bits XOR a position hash) times an odd position
  weight, modulo 2^32. Integer addition is exact and order-free, so the value is the same however the
  array is sharded, and any changed element changes it (a flipped bit in one element always does)."""
  bits = _as_uint32(x, xp).reshape(-1)
  i = xp.arange(bits.size, dtype=xp.uint32)
  return xp.sum((bits ^ (i * xp.uint32(0x9E3779B9))) * ((i << 1) | xp.uint32(1)), dtype=xp.uint32)


@jax.jit
def _leaf_digests(tree):
  return [_leaf_digest(x, jnp) for x in jax.tree_util.tree_leaves(tree)]


@jax.jit
def _all_finite_on_device(tree):
  leaves = [jnp.isfinite(x).all() for x in jax.tree_util.tree_leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _in_host_memory(tree) -> bool:
  """Arrays this process holds whole, in CPU memory: numpy reads them where they are. The jitted
  versions cost one compile per state structure (seconds each) and read the same memory; on GPU/TPU they run where the arrays are, without a copy to the host."""
  return all(isinstance(x, jax.Array) and x.is_fully_addressable
             and all(d.platform == "cpu" for d in x.sharding.device_set)
             for x in jax.tree_util.tree_leaves(tree))


def state_digest(state) -> Dict[str, int]:
  flat = jax.tree_util.tree_flatten_with_path(state)[0]
  paths = [jax.tree_util.keystr(p) for p, _ in flat]
  if _in_host_memory(state):
    digests = [_leaf_digest(np.asarray(x), np) for _, x in flat]
  else:
    digests = jax.device_get(_leaf_digests(state))
  return dict(zip(paths, (int(v) for v in digests)))


def all_finite(tree) -> bool:
  """No NaN or infinity in any floating-point array of the tree."""
  if _in_host_memory(tree):
    return all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(tree)
               if jnp.issubdtype(x.dtype, jnp.inexact))
  return bool(_all_finite_on_device(tree))


def save_each_array_from_one_replica():
  """In a single process, Orbax's 'replica-parallel' saving (its default off GPU) only costs time: it
  cuts every replicated array into one slice per device with a jitted slice per shape and device, and
  slices again at every save, to let several hosts share the writing
  (docs/performance.md#the-first-checkpoint-144-programs-fewer-and-no-digest-programs-on-the-cpu-2026-11-30).
  Multi-host runs keep it.
  (Orbax exposes the option only on the handler it registers for jax.Array, hence the copy.)"""
  if jax.process_count() > 1:
    return
  handler = ocp.type_handlers.get_type_handler(jax.Array)
  if getattr(handler, "_use_replica_parallel", False):
    handler = copy.copy(handler)
    handler._use_replica_parallel = False
    ocp.type_handlers.register_type_handler(jax.Array, handler, override=True)


def checkpoint_bytes(state) -> int:
  """What one checkpoint of `state` (arrays or their abstract shapes) takes on disk: OCDBT writes the
  arrays and a per-process copy, plus metadata (2.1-2.2x the arrays' bytes: docs/measurements.md#numbers-behind-the-code)."""
  return int(2.5 * sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(state)))


class Checkpointer:

  def __init__(self, workdir: str, keep: int, signature: Dict[str, Any]):
    self.keep_n = keep
    # Orbax wants absolute paths; a relative --workdir is relative to where the job started.
    if not files.is_remote(workdir):
      workdir = os.path.abspath(workdir)
    self.directory = epath.Path(workdir) / "checkpoints"
    self.signature = signature
    self._manager: Optional[ocp.CheckpointManager] = None

  def latest_step(self) -> Optional[int]:
    if not self.directory.exists():
      return None
    steps = ocp.utils.checkpoint_steps(self.directory)
    return max(steps) if steps else None

  def check_compatible(self):
    """Fail before compiling if the workdir holds a checkpoint this config can't resume."""
    step = self.latest_step()
    if step is None:
      return
    meta_path = self.directory / str(step) / "meta" / "metadata"
    try:
      saved = json.loads(meta_path.read_text())
    except Exception as e:  # a workdir from something else entirely
      raise BiglogitError(f"checkpoint {self.directory / str(step)} has no readable architecture "
                          f"signature ({type(e).__name__}); use a fresh --workdir") from e
    if saved.get("format_version", 0) > FORMAT_VERSION:
      raise BiglogitError(f"checkpoint {self.directory / str(step)} has format_version "
                          f"{saved['format_version']}, newer than this biglogit reads ({FORMAT_VERSION}); "
                          "upgrade biglogit or use a fresh --workdir")
    for key in sorted(set(saved) | set(self.signature)):
      if saved.get(key) != self.signature.get(key):
        raise BiglogitError(
            f"workdir {self.directory.parent} holds a checkpoint of a different architecture "
            f"({key}: checkpoint {saved.get(key)!r} vs config {self.signature.get(key)!r}); "
            "use a fresh --workdir or the config it was trained with")

  @property
  def manager(self) -> ocp.CheckpointManager:
    if self._manager is None:
      save_each_array_from_one_replica()
      self._manager = ocp.CheckpointManager(
          os.fspath(self.directory),
          options=ocp.CheckpointManagerOptions(max_to_keep=self.keep_n, create=True),
          item_names=ITEMS)
    return self._manager

  @contextlib.contextmanager
  def _write_errors_reported(self, what: str):
    """Orbax writes into a temporary folder and renames it when complete, so a crash or a full disk
    mid-save never replaces the previous checkpoint; the failure becomes one line saying so."""
    try:
      yield
    except Exception as e:  # OSError locally; tensorstore says RESOURCE_EXHAUSTED for a full disk
      if not (isinstance(e, OSError) or files.disk_full(e)):
        raise
      try:  # let an earlier asynchronous write finish, so the report names the real newest step
        self._manager.wait_until_finished()
      except Exception:  # the same failure again: the report below covers it
        pass
      self._remove_unfinished()
      cause = "no space left on the device" if files.disk_full(e) else (getattr(e, "strerror", None) or
                                                                         str(e).splitlines()[0][:200])
      raise BiglogitError(f"{what} in {self.directory} failed ({cause}); the newest complete "
                          f"checkpoint (step {self.latest_step()}) is intact; free space or fix the "
                          "workdir, then rerun to resume") from e

  def _remove_unfinished(self):
    """Orbax's temporary folders of writes that failed (this run's own): they hold no usable step."""
    if not files.is_remote(self.directory) and self.directory.exists():
      for tmp in self.directory.glob("*.orbax-checkpoint-tmp*"):
        shutil.rmtree(os.fspath(tmp), ignore_errors=True)

  def check_space(self, step: int, state):
    """Before a checkpoint is written: a disk without room for it stops the run in one line, rather
    than a failed write training on without checkpoints."""
    if files.is_remote(self.directory):
      return
    need = checkpoint_bytes(state)
    self.directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(os.fspath(self.directory)).free
    if free < need + 2**20:  # and a margin for the logs written until the next checkpoint
      if self._manager is not None:  # the write still in flight decides which step is the newest
        with self._write_errors_reported("finishing a checkpoint write"):
          self._manager.wait_until_finished()
      raise BiglogitError(f"{self.directory} has {free / 2**20:.1f} MiB free but checkpoint step {step} needs "
                          f"about {need / 2**20:.1f} MiB: stopped at step {step} without writing it; the "
                          f"newest complete checkpoint (step {self.latest_step()}) is intact; free space, then "
                          "rerun to resume")

  def save(self, step: int, state, data_iterator, progress: Optional[Dict[str, Any]] = None):
    """data_iterator: the Grain iterator the state was trained from, at the position of the next
    batch; each process writes its own (data/process_I-of-N.json, Grain's checkpoint handler).
    progress: small JSON facts about the run so far (its training seconds), read by restore_progress."""
    # Asynchronous: the write overlaps training; an error surfaces at the next save or at close().
    with self._write_errors_reported(f"writing checkpoint step {step}"):
      if self._manager is not None:
        self._manager.check_for_errors()  # the previous write's failure, if it had one
      self.check_space(step, state)
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(data_iterator),
          meta=ocp.args.JsonSave(self.signature), digest=ocp.args.JsonSave(state_digest(state)),
          progress=ocp.args.JsonSave(progress or {})),
          force=True)

  def restore_progress(self, step: int) -> Dict[str, Any]:
    """The progress saved with `step`; {} for checkpoints written before it was saved."""
    return saved_progress(self.directory, step)

  def _restore_verified(self, step: int, abstract_state):
    """(state, "") or (None, a one-line reason why this step can't be trusted)."""
    has_digest = (self.directory / str(step) / "digest").exists()  # older checkpoints have none
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    if has_digest:
      items["digest"] = ocp.args.JsonRestore()
    try:
      out = self.manager.restore(step, args=ocp.args.Composite(**items))
    except Exception as e:
      return None, f"failed to load ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
    if has_digest:
      saved, restored = out["digest"], state_digest(out["state"])
      bad = [k for k in sorted(set(saved) | set(restored)) if saved.get(k) != restored.get(k)]
      if bad:
        return None, f"has {len(bad)} array(s) that differ from their saved digest (first: {bad[0]})"
    return out["state"], ""

  def restore(self, step: int, abstract_state, data_iterator=None):
    """The state, restored onto the shardings of `abstract_state` (ShapeDtypeStructs with .sharding)
    and verified against the digest saved with it; `data_iterator` (a Grain iterator), if given, is
    moved to the position saved with it. A damaged step is an error that names the newest older step
    that verifies; never a silent restart from step 0."""
    saved = sorted(ocp.utils.checkpoint_steps(self.directory)) if self.directory.exists() else []
    if step not in saved:
      raise BiglogitError(f"{self.directory} has no checkpoint step {step} (it holds steps "
                          f"{', '.join(map(str, saved)) or 'none'}: older steps are removed as newer ones are "
                          f"written, keep_checkpoints={self.keep_n}); pass one of those")
    restored, reason = self._restore_verified(step, abstract_state)
    if restored is not None:
      if data_iterator is not None:
        self._restore_data(step, data_iterator)
      return restored
    older = sorted((s for s in ocp.utils.checkpoint_steps(self.directory) if s < step), reverse=True)
    good = next((s for s in older if self._restore_verified(s, abstract_state)[0] is not None), None)
    damaged = self.directory / str(step)
    remedy = (f"move {damaged} out of {self.directory} and rerun to resume from step {good}, the newest "
              "older checkpoint that verifies" if good is not None else
              "no older checkpoint verifies either; fix or move it, or use a fresh --workdir")
    raise BiglogitError(f"checkpoint step {step} in {self.directory} exists but {reason}; not restarting "
                        f"from step 0 over it: {remedy}")

  def _restore_data(self, step: int, data_iterator):
    folder = self.directory / str(step) / "data"
    own = folder / f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    legacy = folder / "metadata"  # checkpoints before Grain's handler: one JSON state for every process
    if not own.exists() and not legacy.exists():
      saved = sorted(p.name for p in folder.glob("process_*.json")) if folder.exists() else []
      raise BiglogitError(f"checkpoint step {step} in {self.directory} has no data-iterator state for "
                          f"process {jax.process_index()} of {jax.process_count()} (it has "
                          f"{', '.join(saved) or 'none'}); resume with as many processes as saved it, "
                          "or use a fresh --workdir")
    try:
      if own.exists():
        self.manager.restore(step, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(data_iterator)))
      else:
        data_iterator.set_state(json.loads(legacy.read_text()))
    except (IndexError, KeyError, TypeError, ValueError) as e:  # grain's checks of an edited/foreign state
      raise BiglogitError(f"checkpoint step {step} in {self.directory} has a data-iterator state that does not "
                          f"fit this dataset ({type(e).__name__}: {e}); resume from an older step or use a "
                          "fresh --workdir") from e

  def wait(self):
    if self._manager is not None:
      with self._write_errors_reported("finishing a checkpoint write"):
        self._manager.wait_until_finished()

  def close(self):
    """Waits for the write in flight, then stops Orbax's background threads even when that write
    failed."""
    if self._manager is not None:
      try:
        self.wait()
      finally:
        with self._write_errors_reported("closing the checkpoint manager"):
          self._manager.close()
        self._manager = None


def saved_progress(directory, step: int) -> Dict[str, Any]:
  """The `progress` item of checkpoint `step` under `directory` (WORKDIR/checkpoints), read without a
  manager (export reads it); {} for checkpoints written before it was saved."""
  path = epath.Path(directory) / str(step) / "progress" / "metadata"
  return json.loads(path.read_text()) if path.exists() else {}
