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
TOOL_FOLDERS = {"perf": ("benchmark", "conv_benchmark", "profile_step", "compare_reference", "memory"),
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


TRAINING_PATH = ("biglogit.train", "biglogit.preflight", "biglogit.trainer", "biglogit.steps",
                 "biglogit.training_loop")


def test_training_enters_evaluation_only_through_periodic_evaluation():
  graph, _ = _graph()
  into_evaluation = {m for module in TRAINING_PATH for m in graph[module] if m.startswith("biglogit.evaluate")}
  assert into_evaluation == {"biglogit.evaluate.periodic"}


def test_nothing_downstream_of_a_checkpoint_builds_a_trainer():
  graph, _ = _graph()
  for module in graph:
    if module.startswith(DOWNSTREAM):
      reached = _reachable(graph, module)
      assert "biglogit.train" not in reached and "biglogit.trainer" not in reached, module


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
  for trainer in ("biglogit.train", "biglogit.classifiers.fit"):
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


# The chain, upstream first: a module may import from its own stage and the ones before it. Shared
# utilities (files, cli, sharding, config_schema, training_loop, ...) belong to no stage.
STAGES = (("biglogit.image_sources", "biglogit.grain_input"),
          ("biglogit.classifiers",),
          ("biglogit.data",),
          ("biglogit.main", "biglogit.train", "biglogit.trainer", "biglogit.preflight", "biglogit.steps",
           "biglogit.warm_start"),
          ("biglogit.inverter", "biglogit.inference"),
          ("biglogit.evaluate", "biglogit.experiments", "biglogit.export", "biglogit.baselines"),
          ("biglogit.report",))
# The arrows that run down the chain on purpose: training scores its checkpoints with the evaluation
# (only through periodic evaluation, tested above), and a warm start reads a release.
DOWNSTREAM_ON_PURPOSE = {("biglogit.train", "biglogit.evaluate.periodic"),
                         ("biglogit.preflight", "biglogit.evaluate.periodic"),
                         ("biglogit.warm_start", "biglogit.inverter")}


def _stage(module):
  return next((i for i, prefixes in enumerate(STAGES)
               if any(module == p or module.startswith(p + ".") for p in prefixes)), None)


def test_nothing_imports_back_up_the_chain():
  """E.g. data/ (logits datasets, made through a classifier) and classifiers/ (trained on images)
  imported each other; image sources and the Grain pipeline now sit above both."""
  graph, _ = _graph()
  upward = sorted((m, t) for m, targets in graph.items() for t in targets
                  if None not in (_stage(m), _stage(t)) and _stage(t) > _stage(m)
                  and (m, t) not in DOWNSTREAM_ON_PURPOSE)
  assert upward == []
  assert _stage("biglogit.data.logits_builder") > _stage("biglogit.classifiers.io")  # the parser's check


def test_no_two_modules_share_a_name():
  """biglogit/baselines.py beside evaluate/baselines.py, or classifiers/evaluate.py beside the
  evaluate/ package, made every 'baselines' or 'evaluate' in the code ambiguous."""
  names = {}
  for root, dirs, files in os.walk(PACKAGE):
    dirs[:] = [d for d in dirs if d != "__pycache__"]
    for name in [d for d in dirs] + [f[:-3] for f in files if f.endswith(".py")]:
      if name not in ("__init__", "__main__"):
        names.setdefault(name, []).append(os.path.relpath(os.path.join(root, name), PACKAGE))
  assert {n: where for n, where in names.items() if len(where) > 1} == {}


def _is_entry_point(module, graph):
  path = os.path.join(REPO, *module.split("."))
  path = path + ".py" if os.path.exists(path + ".py") else os.path.join(path, "__init__.py")
  return (module.endswith("__main__") or 'if __name__ == "__main__"' in open(path).read()
          or "biglogit.cli" in graph[module])


def test_only_entry_points_talk_to_the_command_line():
  """Library code raises BiglogitError and takes numbers as arguments; flags, exit statuses and the
  one-line error printing (cli.py) belong to commands, so a module that uses cli is imported only by
  other commands (the trainer imported make_logits, a command, for its library half)."""
  graph, _ = _graph()
  talking = {m for m, targets in graph.items() if "biglogit.cli" in targets}
  imported_by_library = sorted((t, m) for m, targets in graph.items() for t in targets
                               if t in talking and not _is_entry_point(m, graph))
  assert imported_by_library == []
  assert "biglogit.cli" not in graph["biglogit.data.logits_builder"] and "biglogit.data.make_logits" in talking


def test_the_training_path_reads_in_pages():
  """train.py is one page (about 250 lines) and no function on the training path is over about 60
  lines (train_and_evaluate was 46 + 60 + 90 lines over three places; build_logits_dataset 121)."""
  path_modules = TRAINING_PATH + ("biglogit.grain_input", "biglogit.data.pipeline", "biglogit.data.logits_builder",
                                  "biglogit.warm_start", "biglogit.checkpointing")
  long = []
  for module in path_modules:
    source = open(os.path.join(REPO, *module.split(".")) + ".py").read()
    for node in ast.walk(ast.parse(source)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
        long.append(f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
  assert long == []
  assert len(open(os.path.join(PACKAGE, "train.py")).read().splitlines()) <= 280
