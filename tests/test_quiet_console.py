"""Warnings a user cannot act on are handled where they arise; real warnings still show."""
import logging
import warnings

import numpy as np

from biglogit import cli
from biglogit.evaluate import core
from biglogit.evaluate import metrics as M


def test_fd_of_singular_features_warns_nothing_and_is_flagged_when_samples_are_few():
  rng = np.random.default_rng(0)
  few, other = rng.normal(size=(20, 64)), rng.normal(size=(20, 64))  # fewer samples than dimensions
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    value = M.fid(few, other)
    constant = M.fid(np.ones((200, 8)), rng.normal(size=(200, 8)))  # a point mass: singular, still defined
  assert np.isfinite(value) and np.isfinite(constant)
  assert "unreliable" in M.fid_unreliable(20, 64) and M.fid_unreliable(65, 64) == ""
  record = {"run": "r", "num_examples": 20, "metrics": {"fid": {"mean": value, "ci_low": value, "ci_high": value,
                                                                  "n": 20, "unreliable": M.fid_unreliable(20, 64)}}}
  assert "unreliable" in core.markdown_table(record)


def test_known_library_notices_are_dropped_and_real_warnings_kept():
  quiet = cli.QuietLibraries()
  record = lambda msg, level=logging.WARNING: logging.LogRecord("tfds", level, "/lib/image_feature.py", 1, msg, (), None)
  for notice in ("OpenCV is not installed. We recommend using OpenCV because it is faster",
                 "Using custom data configuration: LogitsConfig(name='x')",
                 'Type handler registry type "<class \'jax.Array\'>" overriding jax.Array'):
    assert not quiet.filter(record(notice))
  assert quiet.filter(record("Dataset is larger than the disk"))
  assert not quiet.filter(record("library chatter", logging.INFO))


def test_writing_a_dataset_leaves_no_temporary_tfds_folder(tmp_path):
  import glob
  import os
  import tempfile
  from biglogit.data import dataset as dataset_lib
  from tests.conftest import toy_arrays
  pattern = os.path.join(tempfile.gettempdir(), "tmp*tfds")
  before = set(glob.glob(pattern))
  dataset_lib.write_numpy_dataset(str(tmp_path), "toy", {"train": toy_arrays(4)})
  assert set(glob.glob(pattern)) - before == set()
