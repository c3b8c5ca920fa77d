"""Workdir files through etils.epath (Orbax's file layer), so that local folders and object storage
(gs://...) take the same code: one atomic-write helper and one test for remote paths."""
import errno
import hashlib
import json
import os
import uuid
from typing import Union

from etils import epath

from biglogit import BiglogitError


def is_remote(path) -> bool:
  """gs://, s3:// ...: no exclusive create, no disk quota to query, renames are copies."""
  return "://" in str(path)


def disk_full(e: BaseException) -> bool:
  """A full device, as the OS says it (ENOSPC, EDQUOT) or as tensorstore does (RESOURCE_EXHAUSTED), also
  when it arrives wrapped (clu's AsyncWriter re-raises a writer thread's error as its cause)."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
      return True
    text = str(e)
    if "RESOURCE_EXHAUSTED" in text or "No space left on device" in text or "Disk quota exceeded" in text:
      return True
    e = e.__cause__ or e.__context__
  return False


def unique_sibling(path, tag: str = "tmp") -> str:
  """A hidden name beside `path` that no other writer uses (the process id and a random part): two
  writers of one file never share a temporary, and nobody else's file is ever taken for one."""
  head, name = os.path.split(os.fspath(path))
  return os.path.join(head, f".{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.{tag}")


def atomic_write(path, payload: Union[str, bytes]) -> epath.Path:
  """Readers never see half a file: locally the payload goes to a temporary name of this writer's own
  that is then renamed over the target (and removed if anything fails); an object store makes each
  object visible only once its upload completes. A full disk is one line saying the previous version
  of the file, if any, is intact."""
  target = epath.Path(path)
  target.parent.mkdir(parents=True, exist_ok=True)
  if is_remote(path):
    (target.write_bytes if isinstance(payload, bytes) else target.write_text)(payload)
    return target
  data = payload.encode() if isinstance(payload, str) else payload
  tmp = unique_sibling(target)
  try:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.replace(tmp, target)
  except BaseException as e:
    if os.path.exists(tmp):
      os.remove(tmp)
    if disk_full(e):
      raise BiglogitError(f"{target} was not written: no space left on the device (its previous version, "
                          "if any, is intact); free space and run the command again") from e
    raise
  return target


PAIR_LINE = "Record: {name} sha256 {digest}"


def write_pair(json_path, record_text: str, md_path, md_text: str):
  """A record and its markdown rendering, as two atomic writes: the markdown first, ending with the
  sha256 of the JSON it renders, then the JSON (the record readers use). Interrupted between the two,
  the pair disagrees visibly, and read_pair refuses it; neither file is ever seen half written."""
  digest = hashlib.sha256(record_text.encode()).hexdigest()
  line = PAIR_LINE.format(name=os.path.basename(os.fspath(json_path)), digest=digest)
  atomic_write(md_path, md_text.rstrip("\n") + "\n\n" + line + "\n")
  try:
    atomic_write(json_path, record_text)
  except BaseException:  # the markdown of a record that was not written goes too
    if not is_remote(md_path):
      os.remove(os.fspath(md_path))
    raise


def read_pair(json_path, md_path):
  """The JSON record's text, refused in one line if the markdown beside it renders another record (an
  interrupted write_pair); a record without its markdown, or from before the digest line, is read."""
  text = epath.Path(json_path).read_text()
  md = epath.Path(md_path)
  if md.exists():
    last = [l for l in md.read_text().splitlines() if l.strip()][-1:]
    prefix = PAIR_LINE.format(name=os.path.basename(os.fspath(json_path)), digest="")
    if last and last[0].startswith(prefix) and last[0][len(prefix):] != hashlib.sha256(text.encode()).hexdigest():
      raise BiglogitError(f"{md_path} and {json_path} describe different evaluations (a write was interrupted "
                          "between the two); run the evaluation again")
  return text


def parse_json(text: str, path, remedy: str):
  """JSON text read from `path`, or one line naming the file, where it breaks and `remedy`."""
  try:
    return json.loads(text)
  except ValueError as e:
    where = f", line {e.lineno}" if hasattr(e, "lineno") else ""
    raise BiglogitError(f"{path} is not valid JSON ({getattr(e, 'msg', e)}{where}: truncated or edited); "
                        f"{remedy}") from None


def read_json(path, remedy: str):
  return parse_json(epath.Path(path).read_text(), path, remedy)


def check_can_create(path, flag: str):
  """Before any work: a local output folder `path` can be made (or written into): refused in one line
  when it is an existing file or when the folder it would go in is not writable."""
  path = os.path.abspath(os.fspath(path))
  if os.path.isfile(path):
    raise BiglogitError(f"{flag}={path} is an existing file; give a folder")
  probe = path if os.path.isdir(path) else os.path.dirname(path)
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    raise BiglogitError(f"{flag}={path} cannot be created: {probe} is a file; pick another {flag}")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise BiglogitError(f"{flag}={path} cannot be written: {probe} is not writable; pick another {flag}")
