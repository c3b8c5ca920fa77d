"""Run many `python -m biglogit...` commands quickly: one process imports the heavy libraries once,
then forks a child per command (a fresh interpreter state for absl's flags, but no 5 s import each).

  python tests/cli_runner.py < [{"argv": ["biglogit.convert", "--arch=..."], "cwd": "...",
                                 "watch": [folder, ...]}, ...]
prints [{"rc": ..., "stdout": ..., "stderr": ..., "changed": [...]}, ...] as JSON, where "changed"
lists the files under the watched folders that the command added, removed or modified. Nothing here starts a JAX backend
before the fork, so each child initialises its own.
"""
import hashlib
import importlib
import json
import os
import runpy
import sys
import tempfile


def _child(argv, cwd, out_path, err_path):
  os.chdir(cwd)
  for fd, path in ((1, out_path), (2, err_path)):
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(handle, fd)
    os.close(handle)
  sys.argv = list(argv)
  code = 0
  try:
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
  except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
  except BaseException:  # an unexpected exception: its traceback, as python -m would print it
    import traceback
    traceback.print_exc()
    code = 1
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)


def tree_hashes(folders):
  out = {}
  for folder in folders:
    for root, _, names in os.walk(folder):
      for name in names:
        path = os.path.join(root, name)
        with open(path, "rb") as f:
          out[path] = hashlib.sha256(f.read()).hexdigest()
  return out


def main():
  cases = json.load(sys.stdin)
  for heavy in ("absl.flags", "flax", "jax", "ml_collections", "orbax.checkpoint", "tensorflow_datasets"):
    importlib.import_module(heavy)  # shared by every command: imported once, before the forks
  results = []
  with tempfile.TemporaryDirectory() as tmp:
    for i, case in enumerate(cases):
      out_path, err_path = os.path.join(tmp, f"{i}.out"), os.path.join(tmp, f"{i}.err")
      before = tree_hashes(case.get("watch", []))
      pid = os.fork()
      if pid == 0:
        _child(case["argv"], case["cwd"], out_path, err_path)
      _, status = os.waitpid(pid, 0)
      after = tree_hashes(case.get("watch", []))
      changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
      with open(out_path) as f_out, open(err_path) as f_err:
        results.append({"rc": os.waitstatus_to_exitcode(status), "stdout": f_out.read(),
                        "stderr": f_err.read(), "changed": changed})
  json.dump(results, sys.stdout)


if __name__ == "__main__":
  main()
