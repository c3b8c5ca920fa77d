"""The package's import graph, read from the source: data flows one way (image source -> classifier
-> logits dataset -> training -> checkpoint -> inverter -> evaluation / experiments / export -> report)
and nothing imports back up the chain."""
import ast
import os

from tests.conftest import REPO

PACKAGE = os.path.join(REPO, "biglogit")
# What may sit downstream of a trained checkpoint but must never build a trainer.
DOWNSTREAM = ("biglogit.inverter", "biglogit.evaluate", "biglogit.experiments", "biglogit.export",
              "biglogit.report", "biglogit.baselines")
# Tools grouped by what they are for (their old top-level forwarding modules were removed).
TOOL_FOLDERS = {"perf": ("benchmark", "conv_benchmark", "profile_step", "compare_reference"),
                "report": ("page", "learning_curve")}


def _module_name(path):
  rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
  return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def _is_module(name):
  base = os.path.join(REPO, *name.split("."))
  return os.path.exists(base + ".py") or os.path.isdir(base)


def _imports(path):
  """[(imported biglogit module, line number, inside a function or class?)]"""
  tree = ast.parse(open(path).read())
  out = []

  def visit(node, nested):
    for child in ast.iter_child_nodes(node):
      inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
      if isinstance(child, ast.Import):
        out.extend((a.name, child.lineno, nested) for a in child.names if a.name.startswith("biglogit"))
      elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("biglogit"):
        for a in child.names:
          full = f"{child.module}.{a.name}"
          out.append((full if _is_module(full) else child.module, child.lineno, nested))
      visit(child, inner)
  visit(tree, False)
  return out


def _graph():
  graph, function_level = {}, []
  for root, _, names in os.walk(PACKAGE):
    for name in names:
      if name.endswith(".py"):
        path = os.path.join(root, name)
        module = _module_name(path)
        lines = open(path).read().splitlines()
        graph.setdefault(module, set())
        for target, line, nested in _imports(path):
          if target != "biglogit" and target != module:  # the package root holds only the error type
            graph[module].add(target)
          if nested and "#" not in lines[line - 1]:
            function_level.append(f"{module}:{line}")
  return graph, function_level


def _reachable(graph, start):
  seen, todo = set(), [start]
  while todo:
    for nxt in graph.get(todo.pop(), ()):
      if nxt not in seen:
        seen.add(nxt)
        todo.append(nxt)
  return seen


def test_no_import_circle():
  graph, _ = _graph()
  circles = sorted(m for m in graph if m in _reachable(graph, m))
  assert circles == [], f"modules on an import circle: {circles}"


def test_own_modules_are_imported_at_the_top_unless_a_comment_says_why():
  _, function_level = _graph()
  assert function_level == []


def test_training_enters_evaluation_only_through_periodic_evaluation():
  graph, _ = _graph()
  into_evaluation = {m for m in graph["biglogit.train"] if m.startswith("biglogit.evaluate")}
  assert into_evaluation == {"biglogit.evaluate.periodic"}


def test_nothing_downstream_of_a_checkpoint_builds_a_trainer():
  graph, _ = _graph()
  for module in graph:
    if module.startswith(DOWNSTREAM):
      assert "biglogit.train" not in _reachable(graph, module), module


def test_the_graph_is_read_correctly():
  """The checks above are only as good as the parser: known edges must be found."""
  graph, _ = _graph()
  assert "biglogit.state" in graph["biglogit.inverter"]
  assert "biglogit.inverter" in graph["biglogit.evaluate.periodic"]
  assert "biglogit.train" in graph["biglogit.main"]
  assert "biglogit.train" in _reachable(graph, "biglogit.main")


def test_both_trainers_run_the_one_skeleton():
  """The GAN and classifier trainers use training_loop (jit, restore-or-init, the loop); no other
  module keeps its own loop machinery (a SIGTERM handler, a donated jit of a step, a step checkpoint)."""
  graph, _ = _graph()
  for trainer in ("biglogit.train", "biglogit.classifiers.train"):
    assert "biglogit.training_loop" in graph[trainer], trainer
  for root, _, names in os.walk(PACKAGE):
    for name in names:
      if name.endswith(".py") and name != "training_loop.py":
        source = open(os.path.join(root, name)).read()
        for machinery in ("signal.SIGTERM", "donate_argnums=0", "checkpointer.save(step"):
          assert machinery not in source, f"{name} has {machinery}; use biglogit/training_loop.py"


def test_tools_live_in_their_folders_and_old_paths_are_gone():
  for folder, tools in TOOL_FOLDERS.items():
    for tool in tools:
      assert os.path.exists(os.path.join(PACKAGE, folder, tool + ".py")), f"{folder}/{tool}.py"
      assert not os.path.exists(os.path.join(PACKAGE, tool + ".py")), f"biglogit/{tool}.py is back"
  assert os.path.exists(os.path.join(PACKAGE, "report", "__main__.py"))  # python -m biglogit.report
