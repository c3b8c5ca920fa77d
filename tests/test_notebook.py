"""notebooks/demo.ipynb runs top to bottom on CPU against the released checkpoints in pretrained/."""
import os

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO


def test_demo_notebook_executes():
  path = os.path.join(REPO, "notebooks", "demo.ipynb")
  nb = nbformat.read(path, as_version=4)
  NotebookClient(nb, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": os.path.join(REPO, "notebooks")}}).execute()
  outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
  assert not [o for o in outputs if o.get("output_type") == "error"]
  # images, reconstructions, eps samples, logit edits
  assert sum(1 for o in outputs if "image/png" in o.get("data", {})) >= 4
  text = "".join(o.get("text", "") for o in outputs)
  assert "robust ResNet-4B" in text and "standard ResNet-20" in text
