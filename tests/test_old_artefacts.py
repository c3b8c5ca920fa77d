"""A logits dataset, a checkpoint and a release written by an older tree load and give bit-identical
results today: moving the training path between modules (issue 55) changed no result, and a future
change that does will say so here. The artefacts and their outputs were written by
tests/fixtures/write_artefacts.py from the commit in the folder's name."""
import importlib.util
import os
import shutil

import numpy as np
import pytest

from tests.conftest import REPO, main_env

FIXTURES = os.path.join(REPO, "tests", "fixtures")
BEFORE = sorted(d for d in os.listdir(FIXTURES) if d.startswith("artefacts_"))


def _writer():
  spec = importlib.util.spec_from_file_location("write_artefacts", os.path.join(FIXTURES, "write_artefacts.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("before", BEFORE)
def test_artefacts_of_an_older_tree_give_the_same_results_bit_for_bit(before, tmp_path, monkeypatch):
  copy = tmp_path / before
  shutil.copytree(os.path.join(FIXTURES, before), copy)
  monkeypatch.chdir(copy)
  writer = _writer()
  writer.resume_one_more_step(REPO, main_env(8))  # the old checkpoint, one more step with today's code
  expected, got = np.load("expected.npz"), writer.outputs(REPO)
  assert sorted(got) == sorted(expected.files)
  for name in expected.files:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_there_is_a_set_of_old_artefacts_to_check():
  assert BEFORE, "tests/fixtures/artefacts_* is missing (tests/fixtures/write_artefacts.py writes it)"
