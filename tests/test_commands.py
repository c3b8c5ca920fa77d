"""Every `python -m biglogit...` command written in a config's docstring or in the README names a
module that exists and only flags that module defines (and, for --config.a.b=..., keys that the
named config file has): documentation that runs. Read statically, so it costs no imports."""
import glob
import importlib
import os
import re
import shlex

import pytest

from tests.conftest import REPO

_DEFINE = re.compile(r"DEFINE_\w+\(\s*\"(\w+)\"")
_IMPORT = re.compile(r"^\s*from (biglogit(?:\.\w+)*) import ([\w, ]+)|^\s*import (biglogit(?:\.\w+)+)", re.M)
_ABSL = {"help", "helpfull", "helpshort", "flagfile", "logtostderr", "alsologtostderr", "v", "verbosity"}


def _module_file(module: str) -> str:
  base = os.path.join(REPO, *module.split("."))
  for path in (base + ".py", os.path.join(base, "__main__.py")):
    if os.path.exists(path):
      return path
  return ""


def _defined_flags(path: str) -> set:
  """Flags the file defines, plus those of the biglogit modules it imports (experiments share theirs)."""
  source = open(path).read()
  names = set(_DEFINE.findall(source))
  for package, members, module in _IMPORT.findall(source):
    candidates = [module] if module else [package] + [f"{package}.{m.strip()}" for m in members.split(",")]
    for candidate in candidates:
      other = _module_file(candidate)
      if other and other != path:
        names |= set(_DEFINE.findall(open(other).read()))
  return names


def _commands(text: str):
  """Each command line (continuations joined) that runs a biglogit module."""
  joined = re.sub(r"\\\n\s*", " ", text)
  for line in joined.splitlines():
    # a command quoted in prose ends at ")" (e.g. "(time a step with python -m biglogit.benchmark ...)")
    for match in re.finditer(r"python3? -m (biglogit[\w.]*)([^`&|;)\n]*)", line):
      yield match.group(1), match.group(2)


def _documented():
  docs = {os.path.relpath(p, REPO): open(p).read() for p in sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))}
  docs["README.md"] = open(os.path.join(REPO, "README.md")).read()
  for where, text in docs.items():
    if where.endswith(".py"):
      text = (re.match(r'\s*"""(.*?)"""', text, re.S) or re.match("", "")).group(0)
    for module, args in _commands(text):
      yield where, module, args


CASES = list(_documented())


def test_the_documents_hold_commands():
  assert len(CASES) > 40
  assert {w for w, _, _ in CASES} >= {"README.md", "configs/robust_r152.py", "configs/cifar10.py"}


@pytest.mark.parametrize("where,module,args", CASES, ids=[f"{w}:{m}" for w, m, _ in CASES])
def test_documented_command_uses_real_flags(where, module, args):
  if module.split(".")[-1].isupper():  # a placeholder (biglogit.experiments.NAME): the package exists
    assert os.path.isdir(os.path.join(REPO, *module.split(".")[:-1])), f"{where}: {module}"
    return
  path = _module_file(module)
  assert path, f"{where}: python -m {module} names no module"
  defined = _defined_flags(path) | _ABSL
  tokens = shlex.split(args.replace("...", ""), posix=True)
  config_spec = next((t.split("=", 1)[1] for t in tokens if t.startswith("--config=")), None)
  config = None
  if config_spec and "<" not in config_spec:  # not a placeholder such as configs/<file>.py
    config_file, _, variant = config_spec.partition(":")  # a family: configs/x.py:VARIANT
    config_path = os.path.join(REPO, config_file)
    assert os.path.exists(config_path), f"{where}: --config={config_spec}: no file {config_file}"
    spec = importlib.util.spec_from_file_location("documented_config", config_path)
    holder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(holder)
    config = holder.get_config(variant) if variant else holder.get_config()
  for token in tokens:
    if not token.startswith("--"):
      continue
    name = token[2:].split("=", 1)[0]
    if name.startswith("config."):
      assert config_spec, f"{where}: {token} without --config="
      if config is None:
        continue
      node = config
      for key in name.split(".")[1:]:
        assert key in node, f"{where}: {token}: {config_spec} has no key {name[len('config.'):]}"
        node = node[key]
      continue
    assert name in defined or (name.startswith("no") and name[2:] in defined), (
        f"{where}: python -m {module} has no flag --{name}")
