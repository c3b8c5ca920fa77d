#!/usr/bin/env python3
"""Expand a sweep into biglogit.main runs with distinct workdirs; print them or run them in turn.

  python launch/sweep.py --config=configs/cifar10.py:resnet4b --root=workdirs/release --dry_run
  python launch/sweep.py --config=configs/tiny.py --root=workdirs/lr \
      --grid=train.g_lr=1e-4,2e-4 --grid=seed=0,1 -- --config.data.dataset=data_out/...

The sweep is the config's get_sweep() (a list of {"dotted.key": value} dicts), or the product of the
--grid options (key=v1,v2,...) when given. Each run's workdir is ROOT/<key=value,...>; rerunning the
sweep resumes each run from its newest checkpoint (finished runs stop at once). Arguments after --
go to every run. Exit status: 0 if every run succeeded, 1 otherwise (the failures are listed).
"""
import argparse
import importlib.util
import itertools
import os
import re
import shlex
import subprocess
import sys


def fail(message: str):
  """biglogit's convention for bad input: one line, exit status 2, before any run starts."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def load_sweep(config: str):
  """config: FILE or FILE:VARIANT (a family); the sweep is FILE's get_sweep()."""
  config_path = config.split(":", 1)[0]
  if not os.path.isfile(config_path):
    fail(f"--config={config_path} does not exist; pass a config file such as configs/cifar10.py:resnet4b")
  spec = importlib.util.spec_from_file_location("sweep_config", config_path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except Exception as e:  # the config's own code: a syntax error, an import it lacks
    fail(f"the config file {config_path} could not be loaded ({type(e).__name__}: {e}); fix the file")
  if not hasattr(module, "get_sweep"):
    fail(f"{config_path} has no get_sweep(); give --grid=key=v1,v2 instead")
  return list(module.get_sweep())


def parse_grid(options):
  axes = []
  for opt in options:
    key, sep, values = opt.partition("=")
    if not sep or not values:
      fail(f"--grid={opt!r}; write key=v1,v2,... e.g. --grid=train.g_lr=1e-4,2e-4")
    axes.append([(key, v) for v in values.split(",")])
  return [dict(combo) for combo in itertools.product(*axes)]


def run_name(point) -> str:
  name = ",".join(f"{k.split('.')[-1]}={v}" for k, v in point.items()) or "default"
  return re.sub(r"[^A-Za-z0-9_.,=+-]", "_", name)


def commands(config: str, root: str, points, extra):
  names = [run_name(p) for p in points]
  if len(set(names)) != len(names):
    fail("two sweep points map to the same workdir name; make their values distinct")
  return [[sys.executable, "-m", "biglogit.main", f"--config={config}", f"--workdir={os.path.join(root, n)}",
           *[f"--config.{k}={v}" for k, v in p.items()], *extra] for n, p in zip(names, points)]


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  extra = []
  if "--" in argv:
    i = argv.index("--")
    argv, extra = argv[:i], argv[i + 1:]
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--root", required=True, help="parent folder of the runs' workdirs")
  parser.add_argument("--grid", action="append", default=[], help="key=v1,v2,... (repeatable)")
  parser.add_argument("--dry_run", action="store_true", help="print the commands, run nothing")
  args = parser.parse_args(argv)
  points = parse_grid(args.grid) if args.grid else load_sweep(args.config)
  cmds = commands(args.config, args.root, points, extra)
  failed = []
  for cmd in cmds:
    print(" ".join(shlex.quote(c) for c in cmd), flush=True)
    if not args.dry_run and subprocess.call(cmd) != 0:
      failed.append(cmd[4])
  if failed:
    print(f"{len(failed)} of {len(cmds)} runs failed: " + ", ".join(failed), file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
