"""Workdir files through etils.epath (Orbax's file layer), so that local folders and object storage
(gs://...) take the same code: one atomic-write helper and one test for remote paths."""
from typing import Union

from etils import epath


def is_remote(path) -> bool:
  """gs://, s3:// ...: no exclusive create, no disk quota to query, renames are copies."""
  return "://" in str(path)


def atomic_write(path, payload: Union[str, bytes]) -> epath.Path:
  """Readers never see half a file: locally the payload goes to a temporary name that is then renamed
  over the target; an object store makes each object visible only once its upload completes."""
  target = epath.Path(path)
  target.parent.mkdir(parents=True, exist_ok=True)
  write = target.write_bytes if isinstance(payload, bytes) else target.write_text
  if is_remote(path):
    write(payload)
    return target
  tmp = target.parent / (target.name + ".tmp")
  (tmp.write_bytes if isinstance(payload, bytes) else tmp.write_text)(payload)
  tmp.replace(target)
  return target
