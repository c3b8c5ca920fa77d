"""Standing statistics (export --standing_stats): the EMA generator's batch-norm running statistics
recomputed from its own training-mode passes, because training keeps only the live G's, and the EMA
weights lag G. On the GPU-scale run (EMA 0.9999) the released pictures saturated without them
(results/gpu/README.md)."""
import json
import os

import jax
import numpy as np
import pytest

from biglogit import BiglogitError, export
from biglogit.data import dataset as dataset_lib
from biglogit.inverter import Inverter


def _running_averages(stats):
  """The BN running means and variances (not the spectral-norm vectors) by path."""
  leaves = jax.tree_util.tree_flatten_with_path(stats)[0]
  return {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves
          if jax.tree_util.keystr(p).endswith(("['mean']", "['var']"))}


def _train_logits(inverter_runs, n):
  source = dataset_lib.open_split(inverter_runs["dataset"], "train")[0]
  return np.stack([np.asarray(source[i]["logits"], np.float32) for i in range(n)]), np.arange(n)


def test_recomputed_statistics_forget_where_they_started(inverter_runs):
  logits, indices = _train_logits(inverter_runs, 64)
  batches = np.tile(np.arange(64), 8)  # 64 batches of 8: 0.9**64 of the start is left
  fresh = Inverter.load(inverter_runs["gan"]).recompute_stats(logits[batches], indices[batches], 8)
  wrong = Inverter.load(inverter_runs["gan"])  # statistics of a G far from these weights
  wrong.g_stats = jax.tree_util.tree_map_with_path(
      lambda p, x: np.asarray(x) * 4.0 if jax.tree_util.keystr(p).endswith(("['mean']", "['var']")) else x,
      wrong.g_stats)
  gap_before = np.abs(wrong.reconstruct(logits[:4]) - fresh.reconstruct(logits[:4])).mean()
  assert _running_averages(wrong.g_stats) and gap_before > 0.02
  wrong.recompute_stats(logits[batches], indices[batches], 8)
  for path, value in _running_averages(fresh.g_stats).items():
    np.testing.assert_allclose(_running_averages(wrong.g_stats)[path], value, rtol=0.02, atol=0.02, err_msg=path)
  # pictures follow (the tiny G amplifies the 0.9**64 left of the start in its smallest variances)
  assert np.abs(wrong.reconstruct(logits[:4]) - fresh.reconstruct(logits[:4])).mean() < gap_before / 10


def test_export_with_standing_statistics_records_them_and_can_start_from_a_release(inverter_runs, tmp_path):
  plain = export.export(inverter_runs["gan"], str(tmp_path / "plain"), hardware="2 CPU cores")
  again = export.export(plain, str(tmp_path / "standing"), hardware="2 CPU cores", standing_stats=4)
  info = json.load(open(os.path.join(again, "release.json")))
  assert info["standing_stats_batches"] == 4
  assert info["training_seconds"] == json.load(open(os.path.join(plain, "release.json")))["training_seconds"]
  assert "recomputed for the EMA weights from 4 training batches" in open(os.path.join(again, "MODEL_CARD.md")).read()
  assert not os.path.exists(os.path.join(again, "metrics.json"))  # the plain release's numbers are not its
  before, after = Inverter.load(plain), Inverter.load(again)
  assert after.step == before.step
  assert any(not np.allclose(after_v, _running_averages(before.g_stats)[p])
             for p, after_v in _running_averages(after.g_stats).items())


def test_more_standing_batches_than_training_examples_is_refused_before_writing(inverter_runs, tmp_path):
  with pytest.raises(BiglogitError, match="exceed the 64 training examples"):
    export.export(inverter_runs["gan"], str(tmp_path / "release"), hardware="2 CPU cores", standing_stats=9)
  assert not os.path.exists(tmp_path / "release")


def test_a_generator_without_running_statistics_is_exported_without_claiming_them(inverter_runs, tmp_path):
  out = export.export(inverter_runs["deepsim"], str(tmp_path / "deepsim"), hardware="2 CPU cores", standing_stats=4)
  assert json.load(open(os.path.join(out, "release.json")))["standing_stats_batches"] == 0
  assert "recomputed" not in open(os.path.join(out, "MODEL_CARD.md")).read()
