"""A resume continues the run it resumes, or says why not.

Everything that changes a run's trajectory -- the keys config_schema.py declares with role
"trajectory" (batch, D steps, optimiser and EMA settings, seed, method, losses, release, conditioning),
the dataset's identity and the number of devices -- is recorded in WORKDIR/run_history.json at
the first start. A resume that differs is refused with one line listing the differences, unless the
user allows it explicitly (`python -m biglogit.main ... --allow_changed_resume`); then the changes are
logged and appended to the history beside the step they took effect at. The architecture is guarded
by the checkpoint's own signature (checkpointing.py). Other settings (logging, evaluation, paths) may
change freely; their changes are recorded too, so config.json never changes without a trace.
"""
import datetime
import hashlib
import json
import socket
from typing import Dict, Optional

from etils import epath

from biglogit import BiglogitError
from biglogit import config_schema
from biglogit import host

HISTORY_FILE = "run_history.json"


def _flat(tree: Dict, prefix: str = "") -> Dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def dataset_identity(spec) -> str:
  """A digest of what the logits dataset says it is (size, shapes, classifier and source metadata):
  the same name rebuilt from another classifier is another dataset."""
  described = {"num_examples": spec.num_examples, "num_classes": spec.num_classes,
               "resolution": spec.resolution, "metadata": spec.metadata, "class_names": spec.class_names}
  return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]


def identity(config, spec, device_count: int) -> Dict:
  """The trajectory-defining values of this start."""
  flat = _flat(config.to_dict())
  values = {}
  for key, setting in config_schema.GAN.items():
    # a key added after the first runs is recorded only where it differs from what those runs meant
    # without it (its legacy value): they resume as they were
    if setting.role == "trajectory" and (not setting.has_legacy or flat[key] != setting.legacy):
      values[key] = flat[key]
  values["dataset_identity"] = dataset_identity(spec)
  values["device_count"] = device_count  # the reduction order of the batch statistics
  return values


def _read(workdir: str) -> Optional[Dict]:
  path = epath.Path(workdir) / HISTORY_FILE
  return json.loads(path.read_text()) if path.exists() else None


def differences(recorded: Dict, current: Dict) -> Dict:
  return {k: (recorded.get(k), current.get(k)) for k in sorted(set(recorded) | set(current))
          if recorded.get(k) != current.get(k)}


def check(workdir: str, current: Dict, resuming_from: Optional[int], allow_changes: bool) -> Dict:
  """Called before anything is compiled or written. Returns the trajectory changes (empty for a first
  start or an unchanged resume); raises if there are some and they are not allowed."""
  history = _read(workdir)
  if resuming_from is None or history is None:
    return {}  # a first start, or a workdir from before this guard: recorded from now on
  changes = differences(history["trajectory"], current)
  if changes and not allow_changes:
    listed = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changes.items())
    raise BiglogitError(f"resuming {workdir} at step {resuming_from} with a different trajectory: {listed}; "
                        "use the original settings or a new workdir, or pass --allow_changed_resume to "
                        "continue with the changes (recorded in run_history.json)")
  return changes


def record(workdir: str, current: Dict, config_dict: Dict, step: int, changes: Dict, devices: str = ""):
  """Appends this start to the history (process 0; atomic write): when, on which host and CPU (and
  `devices`, e.g. '4 x cpu'), from which step. The first entry holds the full config; later ones only
  what changed since the previous start, trajectory or not."""
  history = _read(workdir) or {"trajectory": current, "starts": []}
  previous_config = history.get("config")
  entry = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "host": socket.gethostname(), "cpu": host.cpu_model(), "step": step}
  if devices:
    entry["devices"] = devices
  if previous_config is None:
    entry["config"] = "initial"
  else:
    entry["config_changes"] = {k: [old, new] for k, (old, new) in
                               differences(_flat(previous_config), _flat(config_dict)).items()}
  if changes:
    entry["trajectory_changes_allowed"] = {k: [old, new] for k, (old, new) in changes.items()}
  history["trajectory"] = current
  history["config"] = config_dict
  history["starts"].append(entry)
  path = epath.Path(workdir) / HISTORY_FILE
  tmp = epath.Path(workdir) / (HISTORY_FILE + ".tmp")
  tmp.write_text(json.dumps(history, indent=2, default=str))
  tmp.replace(path)
