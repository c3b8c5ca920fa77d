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
    # a command quoted in prose ends at ")" (e.g. "(time a step with python -m biglogit.perf.benchmark ...)")
    for match in re.finditer(r"python3? -m (biglogit[\w.]*)([^`&|;)\n]*)", line):
      yield match.group(1), match.group(2)


def _documents():
  """{path: documentation text}: the README, docs/*.md and every config's docstring."""
  paths = ["README.md"] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
  docs = {os.path.relpath(p, REPO): open(os.path.join(REPO, p)).read() for p in paths}
  for path in sorted(glob.glob(os.path.join(REPO, "configs", "*.py"))):
    docs[os.path.relpath(path, REPO)] = _docstring(open(path).read())
  return docs


def _docstring(source: str) -> str:
  return (re.match(r'\s*"""(.*?)"""', source, re.S) or re.match("", "")).group(0)


def _documented():
  for where, text in _documents().items():
    for module, args in _commands(text):
      yield where, module, args


CASES = list(_documented())


def test_the_documents_hold_commands():
  assert len(CASES) > 40
  assert {w for w, _, _ in CASES} >= {"README.md", "configs/robust_r152.py", "configs/cifar10.py",
                                      "docs/method.md"}


# Modules that moved into a folder (the old path forwards); the README before its rewrite used the old ones.
MOVED = {"biglogit.benchmark": "biglogit.perf.benchmark", "biglogit.conv_benchmark": "biglogit.perf.conv_benchmark",
         "biglogit.profile_step": "biglogit.perf.profile_step",
         "biglogit.compare_reference": "biglogit.perf.compare_reference",
         "biglogit.learning_curve": "biglogit.report.learning_curve",
         "biglogit.classifiers.evaluate": "biglogit.classifiers.accuracy",
         "biglogit.classifiers.train": "biglogit.classifiers.fit"}


def _flag_names(args: str):
  return frozenset(t[2:].split("=", 1)[0] for t in shlex.split(args.split("#")[0].replace("...", ""))
                   if t.startswith("--"))


def test_every_command_the_readme_documented_before_its_rewrite_is_still_documented():
  documented = {(m, _flag_names(a)) for _, m, a in CASES}
  text = "\n".join(_documents().values())
  with open(os.path.join(REPO, "tests", "fixtures", "readme_commands_before_rewrite.txt")) as f:
    old = [line.strip() for line in f if line.strip() and not line.startswith("#")]
  missing = []
  for line in old:
    match = re.match(r"python3? -m (biglogit[\w.]*)(.*)", line)
    if match:
      module = MOVED.get(match.group(1), match.group(1))
      if (module, _flag_names(match.group(2))) not in documented:
        missing.append(line)
    elif line not in text:  # a launch script
      missing.append(line)
  assert missing == []


def test_the_readme_first_screen_is_for_a_newcomer():
  """No dates or machine histories in the first screen; its fenced commands are the ones the tests
  check (biglogit modules above) and CI runs (the test command is .ci/run's)."""
  first = open(os.path.join(REPO, "README.md")).read().splitlines()[:60]
  screen = "\n".join(first)
  assert not re.search(r"20\d\d-\d\d-\d\d|AMD|EPYC|Xeon|session \d", screen), "a date or machine history"
  fenced = [line.strip() for line in first if line.startswith("    ") and line.strip()]
  assert len(fenced) == 2, fenced
  main_cmd, test_cmd = fenced
  cases = {(m, a.strip()) for w, m, a in CASES if w == "README.md"}
  assert any(main_cmd.endswith(f"python -m {m}{a}".rstrip()) or f"python -m {m} {a}".strip() in main_cmd
             for m, a in cases if m == "biglogit.main")
  ci = open(os.path.join(REPO, ".ci", "run")).read()
  assert test_cmd in ci


def test_config_docstrings_are_short_and_every_local_link_resolves():
  for path in sorted(glob.glob(os.path.join(REPO, "configs", "*.py"))):
    lines = _docstring(open(path).read()).splitlines()
    assert len(lines) <= 40, f"{path}: {len(lines)} docstring lines; move measurements to docs/ or results/"
  broken = []
  for where, text in _documents().items():
    base = os.path.dirname(os.path.join(REPO, where)) if where.endswith(".md") else REPO
    for target in re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(
        r"((?:docs|results)/[\w./-]+\.md)", text):
      if "://" in target or target.startswith("#") or re.search(r"/[A-Z]+/", target):  # a placeholder: results/NAME/
        continue
      file_part = target.split("#", 1)[0]
      root = base if "](" + target + ")" in text else REPO
      if not os.path.exists(os.path.join(root, file_part)):
        broken.append(f"{where}: {target}")
  assert broken == []


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
