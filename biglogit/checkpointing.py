"""Thin Orbax CheckpointManager wrapper: the state pytree, the Grain iterator state and the
architecture signature are saved together, one step folder each, written atomically by Orbax."""
import contextlib
import json
import os
from typing import Any, Dict, Optional, Tuple

import orbax.checkpoint as ocp
from etils import epath

from biglogit import BiglogitError

ITEMS = ("state", "data", "meta")
FORMAT_VERSION = 1


def architecture_signature(config) -> Dict[str, Any]:
  """What must match for a checkpoint to be restorable into this config's state."""
  model = config.model.to_dict()
  model.pop("compute_dtype", None)  # bf16 vs fp32 compute restores the same float32 params
  return {"format_version": FORMAT_VERSION, "kind": config.get("kind", "gan"),
          "method": config.get("method", "gan"),
          "release": config.release.to_dict() if "release" in config else {"kind": "full"}, **model}


class Checkpointer:

  def __init__(self, workdir: str, keep: int, signature: Dict[str, Any]):
    self.keep_n = keep
    # Orbax wants absolute paths; a relative --workdir is relative to where the job started.
    if "://" not in workdir:
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
    except OSError as e:
      try:  # let an earlier asynchronous write finish, so the report names the real newest step
        self._manager.wait_until_finished()
      except Exception:  # the same failure again: the report below covers it
        pass
      raise BiglogitError(f"{what} in {self.directory} failed ({e.strerror or e}); the newest complete "
                          f"checkpoint (step {self.latest_step()}) is intact; free space or fix the "
                          "workdir, then rerun to resume") from e

  def save(self, step: int, state, data_state: Dict[str, Any]):
    # Asynchronous: the write overlaps training; an error surfaces at the next save or at close().
    with self._write_errors_reported(f"writing checkpoint step {step}"):
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state),
          meta=ocp.args.JsonSave(self.signature)), force=True)

  def restore(self, step: int, abstract_state) -> Tuple[Any, Dict[str, Any]]:
    """Restore onto the shardings of `abstract_state` (ShapeDtypeStructs with .sharding)."""
    try:
      out = self.manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
    except Exception as e:
      raise BiglogitError(f"checkpoint step {step} in {self.directory} exists but failed to load "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); not restarting from "
                          "step 0 over it: fix or move the checkpoint, or use a fresh --workdir") from e
    return out["state"], out["data"]

  def wait(self):
    if self._manager is not None:
      with self._write_errors_reported("finishing a checkpoint write"):
        self._manager.wait_until_finished()

  def close(self):
    if self._manager is not None:
      self.wait()
      self._manager.close()
