"""notebooks/demo.ipynb runs top to bottom on CPU against the released checkpoints in pretrained/, and
is committed with its outputs, which must show the releases that are in pretrained/ now.

After a release changes, re-execute and commit it:
  BIGLOGIT_UPDATE_NOTEBOOK=1 python3 -m pytest -q tests/test_notebook.py
"""
import copy
import os
import re

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO

PATH = os.path.join(REPO, "notebooks", "demo.ipynb")


def _text(nb):
  return "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))


def _releases_shown(nb):
  found = re.findall(r"^releases shown: (.*)$", _text(nb), re.M)
  assert len(found) == 1, "the notebook prints the releases it shows once"
  return found[0]


def test_demo_notebook_executes_and_its_committed_outputs_are_current():
  committed = nbformat.read(PATH, as_version=4)
  nb = copy.deepcopy(committed)
  for cell in nb.cells:
    if cell.cell_type == "code":
      cell.outputs, cell.execution_count = [], None
  NotebookClient(nb, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": os.path.join(REPO, "notebooks")}}).execute()
  outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
  assert not [o for o in outputs if o.get("output_type") == "error"]
  # images, reconstructions, eps samples, logit edits
  assert sum(1 for o in outputs if "image/png" in o.get("data", {})) >= 4
  text = _text(nb)
  assert "robust ResNet-4B" in text and "standard ResNet-20" in text
  if os.environ.get("BIGLOGIT_UPDATE_NOTEBOOK") == "1":
    nbformat.write(nb, PATH)
    return
  stale = "; re-execute it: BIGLOGIT_UPDATE_NOTEBOOK=1 python3 -m pytest -q tests/test_notebook.py"
  has_output = lambda book: [bool(c.get("outputs")) for c in book.cells if c.cell_type == "code"]
  assert has_output(committed) == has_output(nb), "notebooks/demo.ipynb is committed without its outputs" + stale
  assert _releases_shown(committed) == _releases_shown(nb), (
      "notebooks/demo.ipynb's committed outputs show other releases than pretrained/ holds" + stale)
