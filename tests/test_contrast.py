"""Paired contrasts of evaluations on the same images (biglogit.report.contrast): the per-example values
written beside a record, the differences and the 2x2 interaction with their intervals, and refusals."""
import json

import numpy as np
import pytest

from biglogit import BiglogitError
from biglogit.evaluate import core
from biglogit.report import contrast


def _write(folder, gain, index=None):
  n = len(gain)
  record = {"run": folder.name, "num_examples": n,
            "metrics": {"instance_gain_db": {"mean": float(np.nanmean(gain)), "ci_low": 0.0, "ci_high": 0.0, "n": n}}}
  core.write_record(str(folder), record, per_example={
      "instance_gain_db": np.asarray(gain), "psnr": np.zeros(n), "not_kept": np.ones(n),
      "index": np.arange(n) if index is None else np.asarray(index)})
  return str(folder)


def test_differences_and_interaction_are_per_image_and_skip_undefined_examples(tmp_path):
  rng = np.random.default_rng(0)
  base = rng.normal(0, 1, 400)  # what the images share: cancels in every paired difference
  a, b, c, d = base + 2.0, base + 0.5, base + 1.0, base + 0.8
  a[7] = np.nan  # a lone class's instance gain: left out of every contrast
  paths = [_write(tmp_path / name, v) for name, v in zip("abcd", (a, b, c, d))]
  found = contrast.contrasts(contrast.load(paths), "instance_gain_db")
  assert found["A - B"]["n"] == 399
  for key, expected in (("A - B", 1.5), ("C - D", 0.2), ("(A - B) - (C - D)", 1.3)):
    m = found[key]
    assert m["mean"] == pytest.approx(expected, abs=1e-5) and m["ci_high"] - m["ci_low"] < 1e-4, key
  _, per = core.read_per_example(paths[0] + "/metrics.json")
  assert set(per) == {"instance_gain_db", "psnr", "index"}  # only the paired metrics are kept
  text = contrast.markdown(paths, ["r_rob", "r_std", "i_rob", "i_std"], ["instance_gain_db"])
  assert "| instance_gain_db | +1.500 [" in text and "(excludes 0)" in text and "- A: r_rob" in text
  # noisy differences with mean 0: the interval covers 0 and is not marked
  noisy = [_write(tmp_path / "n1", rng.normal(0, 1, 400)), _write(tmp_path / "n2", rng.normal(0, 1, 400))]
  assert "excludes" not in contrast.markdown(noisy, ["x", "y"], ["instance_gain_db"])


def test_refused_on_other_images_old_records_missing_metrics_or_a_replaced_file(tmp_path):
  one = _write(tmp_path / "one", np.zeros(10))
  other = _write(tmp_path / "other", np.zeros(10), index=np.arange(10) + 5)
  with pytest.raises(BiglogitError, match="evaluated on other examples than"):
    contrast.load([one, other])
  with pytest.raises(BiglogitError, match="metric fid is not kept per example"):
    contrast.contrasts(contrast.load([one, one]), "fid")
  old = tmp_path / "old"
  core.write_record(str(old), {"run": "old", "num_examples": 1, "metrics": {"psnr": {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": 1}}})
  with pytest.raises(BiglogitError, match="keeps no per-example values .*evaluate it again"):
    contrast.load([str(old), one])
  kept = tmp_path / "one" / json.loads((tmp_path / "one" / "metrics.json").read_text())["per_example"]["file"]
  np.savez(kept, instance_gain_db=np.ones(10), index=np.arange(10))
  with pytest.raises(BiglogitError, match="is not the file .* was written with"):
    contrast.load([one, one])
  kept.unlink()
  with pytest.raises(BiglogitError, match="is missing; evaluate it again"):
    contrast.load([one, one])


def test_a_new_record_replaces_the_old_ones_file_and_a_failed_write_keeps_the_old_record_whole(tmp_path, monkeypatch):
  folder = tmp_path / "eval"
  _write(folder, np.zeros(10))
  first = sorted(p.name for p in folder.glob("*.npz"))
  _write(folder, np.ones(10))
  second = sorted(p.name for p in folder.glob("*.npz"))
  assert len(first) == len(second) == 1 and first != second  # named by content; the old one removed
  from biglogit import files

  def full_disk(*args, **kwargs):
    raise BiglogitError("no space left")

  monkeypatch.setattr(files, "write_pair", full_disk)
  with pytest.raises(BiglogitError, match="no space left"):
    _write(folder, np.full(10, 2.0))
  assert sorted(p.name for p in folder.glob("*.npz")) == second  # the new file went, the old stays
  _, per = core.read_per_example(str(folder / "metrics.json"))
  assert (per["instance_gain_db"] == 1).all()
  # an edited record cannot steer the clean-up at a file that is not its own
  (tmp_path / "precious.npz").write_bytes(b"keep")
  record = json.loads((folder / "metrics.json").read_text())
  record["per_example"]["file"] = "../precious.npz"
  (folder / "metrics.json").write_text(json.dumps(record))
  (folder / "metrics.md").unlink()
  monkeypatch.undo()
  _write(folder, np.zeros(10))
  assert (tmp_path / "precious.npz").read_bytes() == b"keep"


def test_every_evaluation_that_writes_a_record_keeps_its_per_example_values():
  """The class, not the listed writers: every call of core.write_record in the package passes
  per_example, so any evaluation can be contrasted pairwise (walks the source)."""
  import ast
  import glob
  import os
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  calls, missing = 0, []
  for path in glob.glob(os.path.join(repo, "biglogit", "**", "*.py"), recursive=True):
    for node in ast.walk(ast.parse(open(path).read(), path)):
      if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "write_record":
        calls += 1
        if "per_example" not in {k.arg for k in node.keywords}:
          missing.append(f"{os.path.relpath(path, repo)}:{node.lineno}")
  assert calls >= 4 and missing == []
