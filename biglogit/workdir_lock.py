"""One training per workdir: WORKDIR/train.lock names the holder (host, pid); a second training on
the same workdir stops with one line naming it instead of interleaving checkpoints with it.

The lock is created with O_CREAT | O_EXCL, so of two starts only one can win. A lock left by a
process that died (same host, pid no longer running) is stale and taken over; one held on another
host cannot be checked from here and is reported. Multi-host runs take it on process 0 only.
Object-store workdirs (gs://...) have no exclusive create: there the lock is not taken (logged).
"""
import json
import os
import socket
import time

from absl import logging

from biglogit import BiglogitError
from biglogit import files

LOCK_FILE = "train.lock"


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by someone else
    return True
  return True


class WorkdirLock:
  def __init__(self, workdir: str, enabled: bool = True):
    self.path = os.path.join(workdir, LOCK_FILE)
    self.enabled = enabled and not files.is_remote(workdir)
    if enabled and not self.enabled:
      logging.warning("workdir %s is on object storage: no exclusive lock; run one training on it", workdir)
    self.held = False

  def _create(self) -> bool:
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(fd, "w") as f:
      json.dump(me, f)
    return True

  def _holder(self):
    try:
      with open(self.path) as f:
        return json.load(f)
    except (OSError, ValueError):
      return None  # vanished, or half-written by a holder that is starting right now

  def acquire(self):
    if not self.enabled:
      return self
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    for _ in range(3):
      if self._create():
        self.held = True
        return self
      holder = self._holder()
      if holder is None:
        time.sleep(0.2)
        continue
      same_host = holder.get("host") == socket.gethostname()
      if same_host and not _alive(int(holder.get("pid", -1))):
        logging.warning("taking over the stale lock of pid %s (no longer running) in %s",
                        holder.get("pid"), self.path)
        try:
          os.remove(self.path)
        except FileNotFoundError:
          pass
        continue  # another starter may win the O_EXCL race; then it is live and reported below
      raise BiglogitError(
          f"workdir {os.path.dirname(self.path)} is in use by a training on host {holder.get('host')} "
          f"pid {holder.get('pid')}; wait for it, stop it, or pick another --workdir"
          + ("" if same_host else f" (if that process is gone, delete {self.path})"))
    raise BiglogitError(f"could not take the lock {self.path}; rerun, or delete it if no training runs")

  def release(self):
    if self.held:
      holder = self._holder()
      if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        os.remove(self.path)
      self.held = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
