"""Every experiment end to end on the tiny trained runs (conftest.inverter_runs): files written,
numbers where they must be; the optimisation baseline; the report over several runs."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from biglogit import BiglogitError
from biglogit import images as image_lib
from biglogit.data import dataset as dataset_lib
from biglogit.experiments import (adversarial, grid, invariance, logit_edits, misclassified, noise, ood,
                                  optimize)
from tests.conftest import compilations


def _check_outputs(result, out_dir, json_name):
  assert os.path.exists(os.path.join(out_dir, json_name))
  for fig in result["figures"]:
    with Image.open(os.path.join(out_dir, fig)) as img:
      assert img.size[0] > 32 and img.size[1] > 32


def test_grid_side_by_side_on_images_all_classifiers_get_right(inverter_runs, tmp_path):
  res = grid.run([inverter_runs["gan"], inverter_runs["deepsim"]], out=str(tmp_path), num_images=4,
                 num_examples=32)
  _check_outputs(res, tmp_path, "grid.json")
  assert res["columns"] == ["original", "gan", "deepsim", "baseline: nearest_logits"]
  assert set(res["per_run"]) == {"gan", "deepsim", "baseline: nearest_logits"}
  # nothing is written into the other runs (they may be releases)
  assert not os.path.exists(os.path.join(inverter_runs["deepsim"], "experiments", "grid"))
  assert len(res["source_indices"]) == 4
  # Each row is labelled with its example's class name (the toy dataset's names are "0" ... "9").
  source, builder = dataset_lib.open_split(inverter_runs["dataset"], "test")
  names = builder.info.features["label"].names
  label_of = {int(source[p]["index"]): int(source[p]["label"]) for p in range(len(source))}
  assert res["classes"] == [names[label_of[i]] for i in res["source_indices"]]
  bare = grid.run([inverter_runs["gan"]], out=str(tmp_path / "bare"), num_images=4, num_examples=32, baselines=())
  assert bare["columns"] == ["original", "gan"]
  # The toy labels make every 4th example misclassified: none of those may be chosen.
  assert all(i % 4 != 0 for i in res["source_indices"])


def test_noise_resampling(inverter_runs, tmp_path):
  res = noise.run(inverter_runs["gan"], out=str(tmp_path), num_images=3, num_samples=3, num_examples=8)
  _check_outputs(res, tmp_path, "noise.json")
  assert res["noise_std"]["mean"] > 0
  with pytest.raises(BiglogitError, match="ignores eps"):
    noise.run(inverter_runs["deepsim"], out=str(tmp_path / "d"), num_samples=3, num_examples=8)


def test_misclassified_split_by_correctness(inverter_runs, tmp_path):
  res = misclassified.run(inverter_runs["gan"], out=str(tmp_path), num_images=3, num_examples=32)
  _check_outputs(res, tmp_path, "misclassified.json")
  assert res["groups"]["misclassified"]["count"] == 8 and res["groups"]["correct"]["count"] == 24
  assert "psnr" in res["groups"]["misclassified"]["metrics"]


def test_adversarial_logits(inverter_runs, tmp_path):
  res = adversarial.run(inverter_runs["gan"], out=str(tmp_path), eps_255=(0, 16), steps=3,
                        num_images=3, num_examples=16)
  _check_outputs(res, tmp_path, "adversarial.json")
  clean, attacked = res["per_eps"]
  assert clean["linf"] == 0 and attacked["linf"] <= 16 / 255 + 1e-6
  assert attacked["phi_accuracy"] < clean["phi_accuracy"]  # PGD fools phi
  assert "follows_adversarial" in attacked and "follows_true" in attacked


def test_logit_edits(inverter_runs, tmp_path):
  edits = {"shift": (0.0, 5.0), "scale": (1.0, 2.0), "gaussian": (0.0, 1.0), "interpolate": (0.0, 1.0)}
  res = logit_edits.run(inverter_runs["gan"], out=str(tmp_path), edits=edits, num_images=3,
                        num_examples=16)
  _check_outputs(res, tmp_path, "logit_edits.json")
  shift = res["results"]["shift"]
  assert shift[0]["pixel_change_vs_unedited"]["mean"] == 0.0  # c = 0 is the unedited reconstruction
  assert shift[1]["max_softmax_change"] < 1e-5  # softmax-invariant edit ...
  assert shift[1]["pixel_change_vs_unedited"]["mean"] > 0  # ... that still changes x_hat
  assert res["results"]["scale"][0]["pixel_change_vs_unedited"]["mean"] == 0.0


def test_invariance(inverter_runs, tmp_path):
  res = invariance.run(inverter_runs["gan"], out=str(tmp_path), num_images=3, num_examples=16)
  _check_outputs(res, tmp_path, "invariance.json")
  assert set(res["transforms"]) == set(invariance.TRANSFORMS)
  assert all(0 <= r["prediction_kept"] <= 1 for r in res["transforms"].values())
  x = np.random.default_rng(0).uniform(size=(2, 8, 8, 3))
  np.testing.assert_array_equal(invariance._translate(x, 2)[:, 2:, 2:], x[:, :-2, :-2])


def test_ood_through_the_inverter(inverter_runs, tmp_path, image_folder):
  res = ood.run(inverter_runs["gan"], out=str(tmp_path), source_specs=(image_folder, "skimage"),
                limit=6, num_images=2, num_examples=16)
  _check_outputs(res, tmp_path, "ood.json")
  assert set(res["groups"]) == {"in_distribution", os.path.basename(image_folder), "skimage"}
  assert res["groups"]["skimage"]["count"] == len(ood.SKIMAGE_PHOTOS)
  with pytest.raises(BiglogitError, match="no such folder"):
    ood.run(inverter_runs["gan"], out=str(tmp_path / "x"), source_specs=("/nonexistent",))


def test_optimisation_lowers_logit_distance_monotonically(inverter_runs):
  from biglogit.evaluate import nets
  phi = nets.Classifier(inverter_runs["phi"])
  rng = np.random.default_rng(0)
  target = phi.logits(rng.uniform(0, 1, (4, 32, 32, 3)).astype(np.float32))
  invert = optimize.make_inversion(phi.logits_fn, steps=40, lr=0.05, tv_weight=0.0, l2_weight=0.0,
                                   optimizer="sgd")
  _, history = invert(jnp.full((4, 32, 32, 3), 0.5), jnp.asarray(target), 4)
  distance = np.asarray(history["logit_distance"])
  assert distance[-1] < 0.9 * distance[0]
  assert (np.diff(distance) <= 1e-6).all(), distance
  # three examples padded to the compiled four: the padding row is optimised but never averaged in
  (x0, z), valid = image_lib.pad_batch([np.full((3, 32, 32, 3), 0.5, np.float32), target[:3]], 4)
  x_padded, padded = invert(jnp.asarray(x0), jnp.asarray(z), valid)
  x_alone, alone = invert(jnp.full((3, 32, 32, 3), 0.5), jnp.asarray(target[:3]), 3)
  for k in ("objective", "logit_distance"):
    np.testing.assert_allclose(padded[k], alone[k], rtol=1e-4)
  # Each image is optimised on its own. Batches of 3 and 4 may take different convolution kernels
  # (they did on an AVX-512 CPU: 40 steps amplified the rounding to 1.7e-4, 0.24% of the update);
  # an image that depended on another one, the padding row included, would differ by far more.
  update = np.abs(np.asarray(x_alone) - 0.5).max()
  mismatch = np.abs(np.asarray(x_padded)[:3] - np.asarray(x_alone)).max()
  assert mismatch < 0.01 * update, (mismatch, update)


def test_optimize_cli_writes_a_run_the_report_reads(inverter_runs, tmp_path, caplog):
  out = str(tmp_path / "optimize_run")
  with jax.log_compiles(True), caplog.at_level("WARNING"):  # batches of 3, 3 and 2 (padded to 3)
    record, history = optimize.run(inverter_runs["phi"], inverter_runs["dataset"], out, num_examples=8,
                                   steps=5, batch_size=3, num_images=2)
  compiles = compilations(caplog, "invert")
  assert len(compiles) == 1, compiles
  assert os.path.exists(os.path.join(out, "eval", "metrics.json"))
  assert record["method"] == "optimization" and len(history["objective"]) == 5
  from biglogit.report import page as report
  from biglogit.evaluate.__main__ import run as evaluate_run
  for name in ("gan", "deepsim"):
    evaluate_run(inverter_runs[name])
  page = report.build([inverter_runs["gan"], inverter_runs["deepsim"], out], str(tmp_path / "report"),
                      curve_runs=[inverter_runs["gan"]])
  text = open(page).read()
  # the learning curve: one figure per training run, on its clock when the log has one
  assert "![gan: metric vs hours of training](figures/learning_curve_gan.png)" in text
  for row in ("| gan | gan |", "| deepsim | deepsim |", "| optimize_run | optimization |"):
    assert row in text
  images = [line.split("(")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
  assert images and all(os.path.exists(tmp_path / "report" / p) for p in images)
  assert os.path.exists(tmp_path / "report" / "index.html")
  with pytest.raises(BiglogitError, match="neither eval"):
    report.build([str(tmp_path)], str(tmp_path / "r2"))
