"""Evaluation metrics against hand-computed values, release transforms, and the evaluate CLI on a tiny
trained run (including periodic evaluation during training)."""
import json
import os
import shutil

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from biglogit import BiglogitError
from biglogit.data import release
from biglogit.evaluate import metrics as M
from biglogit.train_logs import read_jsonl


def test_psnr_of_known_noise():
  x = np.full((2, 8, 8, 3), 0.5)
  y = x.copy()
  y[0] += 0.1  # MSE 0.01 -> 20 dB
  y[1, ::2] += 0.2  # half the pixels off by 0.2: MSE 0.02 -> 10 log10(50)
  np.testing.assert_allclose(M.psnr(x, y), [20.0, 10 * np.log10(50.0)], rtol=1e-9)
  assert M.psnr(x, x)[0] == M.MAX_PSNR_DB


def test_ssim_matches_reference_implementation():
  from skimage.metrics import structural_similarity
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 1, (3, 24, 20, 3))
  y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
  ref = [structural_similarity(a, b, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False) for a, b in zip(x, y)]
  np.testing.assert_allclose(M.ssim(x, y), ref, rtol=1e-6)
  np.testing.assert_allclose(M.ssim(x, x), 1.0, rtol=1e-9)


def test_frechet_distance_closed_form_and_fid_of_samples():
  rng = np.random.default_rng(0)
  d = 4
  a = rng.normal(size=(d, d))
  c1, c2 = a @ a.T + np.eye(d), np.diag([1.0, 2.0, 3.0, 4.0])
  mu1, mu2 = np.zeros(d), np.array([1.0, 0.0, -2.0, 0.5])
  # Commuting case by hand: diagonal covariances give sum (s1 + s2 - 2 sqrt(s1 s2)).
  s1 = np.array([2.0, 1.0, 0.5, 3.0])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + np.diag(c2) - 2 * np.sqrt(s1 * np.diag(c2)))
  assert M.frechet_distance(mu1, np.diag(s1), mu2, c2) == pytest.approx(expected, rel=1e-9)
  assert M.frechet_distance(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-8)
  same = rng.normal(size=(4000, d))
  assert M.fid(same, same) == pytest.approx(0.0, abs=1e-6)
  # Samples whitened to exactly mean 0 and covariance I, then shifted: FID = ||shift||^2 exactly.
  def white(n):
    s = rng.normal(size=(n, d))
    s -= s.mean(0)
    return s @ np.linalg.inv(np.linalg.cholesky(np.cov(s, rowvar=False))).T
  assert M.fid(white(500), white(700) + mu2) == pytest.approx(np.sum(mu2 ** 2), abs=1e-6)


def test_kid_unbiased_near_zero_for_one_distribution_and_positive_for_shift():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
  assert abs(M.kid(a, b, subset_size=200)) < 0.02
  assert M.kid(a, b + 1.0, subset_size=200) > 0.5


def test_bootstrap_interval_contains_mean_and_shrinks_with_n():
  rng = np.random.default_rng(0)
  small, large = M.bootstrap_ci(rng.normal(size=50), 1000), M.bootstrap_ci(rng.normal(size=5000), 1000)
  for ci in (small, large):
    assert ci["ci_low"] <= ci["mean"] <= ci["ci_high"]
  assert (large["ci_high"] - large["ci_low"]) < 0.3 * (small["ci_high"] - small["ci_low"])


def test_noise_std_and_vector_metrics():
  samples = np.zeros((2, 3, 4, 4, 3))
  samples[0] += 0.2
  samples[1] -= 0.2
  np.testing.assert_allclose(M.noise_std(samples), 0.2)
  np.testing.assert_allclose(M.cosine([[1, 0], [1, 1]], [[0, 1], [2, 2]]), [0.0, 1.0], atol=1e-12)
  np.testing.assert_allclose(M.l2([[3, 4]], [[0, 0]]), [5.0])


def _release(kind, **kw):
  return ml_collections.ConfigDict({"kind": kind, "k": kw.get("k", 3), "decimals": kw.get("decimals", 2)})


def test_release_transforms_do_what_they_claim():
  z = jnp.asarray(np.random.default_rng(0).normal(size=(5, 10)) + 0.5, jnp.float32)
  for kind in release.KINDS:
    assert release.apply(_release(kind), z).shape == z.shape
  np.testing.assert_array_equal(release.apply(_release("full"), z), z)
  top3 = np.asarray(release.apply(_release("topk", k=3), z))
  assert ((top3 != 0).sum(-1) == 3).all()
  np.testing.assert_array_equal(np.sort(top3, -1)[:, -3:], np.sort(np.asarray(z), -1)[:, -3:])
  one_hot = np.asarray(release.apply(_release("top1"), z))
  np.testing.assert_array_equal(one_hot.argmax(-1), np.asarray(z).argmax(-1))
  np.testing.assert_array_equal(one_hot.sum(-1), 1.0)
  probs = release.apply(_release("softmax"), z)
  np.testing.assert_allclose(np.asarray(probs).sum(-1), 1.0, rtol=1e-6)
  # softmax is shift invariant: adding c to every logit releases the same vector
  np.testing.assert_allclose(release.apply(_release("softmax"), z + 7.0), probs, atol=1e-6)
  rounded = np.asarray(release.apply(_release("rounded", decimals=2), z))
  np.testing.assert_allclose(rounded * 100, np.round(rounded * 100), atol=1e-4)
  assert np.abs(rounded - np.asarray(probs)).max() <= 0.005 + 1e-6


def test_evaluate_cli_writes_every_metric_with_intervals(inverter_runs, tmp_path):
  from biglogit.evaluate.__main__ import run
  record = run(inverter_runs["gan"], out=str(tmp_path))
  for name in ("psnr", "ssim", "phi_top1_agreement", "logit_cosine", "logit_l2",
               "identifiability_accuracy", "robust_feature_l2", "fid", "kid", "noise_std"):
    m = record["metrics"][name]
    assert m["ci_low"] <= m["mean"] <= m["ci_high"], name
  assert "STAND-IN" in record["networks"]["fid_extractor"]
  # the checkpoint's saved training clock, so a curve over hours can place a checkpoint the log never reached
  with open(os.path.join(inverter_runs["gan"], "checkpoints", str(record["step"]), "progress", "metadata")) as f:
    assert record["train_hours"] == json.load(f)["train_seconds"] / 3600 > 0
  with open(tmp_path / "metrics.json") as f:
    assert json.load(f)["metrics"].keys() == record["metrics"].keys()
  assert "| psnr |" in (tmp_path / "metrics.md").read_text()
  # the per-example values beside it are the ones the means were taken of, for paired contrasts
  from biglogit.evaluate import core
  from biglogit.report import contrast
  _, per = core.read_per_example(str(tmp_path / "metrics.json"))
  for name in ("psnr", "instance_gain_db", "retrieval_top1_pixel_in_class", "identifiability_accuracy"):
    values = per[name][np.isfinite(per[name])]
    assert abs(values.mean() - record["metrics"][name]["mean"]) < 1e-4, name
  assert len(per["index"]) == record["num_examples"]
  same = contrast.contrasts(contrast.load([str(tmp_path), str(tmp_path)]), "psnr")["A - B"]
  assert same["mean"] == same["ci_low"] == same["ci_high"] == 0.0


def test_periodic_evaluation_goes_to_the_training_logs(inverter_runs):
  rows = [r for r in read_jsonl(os.path.join(inverter_runs["gan"], "metrics.jsonl")) if "eval/psnr" in r]
  assert [r["step"] for r in rows] == [4]
  assert os.path.exists(os.path.join(inverter_runs["gan"], "eval", "metrics_step_00000004.json"))
  from biglogit.evaluate import core
  _, per = core.read_per_example(os.path.join(inverter_runs["gan"], "eval", "metrics_step_00000004.json"))
  assert len(per["index"]) == len(per["psnr"]) > 0  # the step's per-example values, for paired contrasts


def test_identifier_must_differ_from_phi(inverter_runs):
  from biglogit.evaluate import core
  from biglogit.inverter import load_config
  config = load_config(inverter_runs["gan"])
  config.eval.identifier = inverter_runs["phi"]
  with pytest.raises(BiglogitError, match="is phi itself"):
    core.Evaluator(config, {"classifier_dir": inverter_runs["phi"]})


def test_deepsim_baseline_trains_with_the_same_trainer(inverter_runs):
  run = inverter_runs["deepsim"]
  rows = read_jsonl(os.path.join(run, "metrics.jsonl"))
  assert {"pixel_loss", "feature_loss", "adversarial_loss", "d_loss"} <= set(rows[-1])
  assert all(np.isfinite(v) for v in rows[-1].values())
  from biglogit.inverter import Inverter
  inv = Inverter.load(run)
  assert not inv.stochastic and inv.step == 4
  z = np.random.default_rng(0).normal(size=(2, 10)).astype(np.float32)
  # Deterministic: eps is ignored.
  np.testing.assert_array_equal(inv.reconstruct(z, seed=0), inv.reconstruct(z, seed=1))
  # Trained on the top-3 release: logits outside each row's top 3 cannot change the output.
  z_other = z.copy()
  rest = np.argsort(z, axis=-1)[:, :-3]
  np.put_along_axis(z_other, rest, np.take_along_axis(z, rest, -1) - 5.0, -1)
  assert inv.config.release.kind == "topk"
  np.testing.assert_array_equal(inv.reconstruct(z), inv.reconstruct(z_other))


def test_table_at_hours_compares_runs_of_different_step_rates_at_equal_time():
  from biglogit.report import learning_curve
  point = lambda v: {"instance_gain_db": {"mean": v, "ci_low": v - 0.1, "ci_high": v + 0.1}}
  fast = [{"step": 3000, "train_hours": 0.49, "metrics": point(1.0)},
          {"step": 6000, "train_hours": 1.02, "metrics": point(2.0)}]
  slow = [{"step": 1500, "train_hours": 0.51, "metrics": point(0.5)},
          {"step": 2000, "train_hours": 0.70, "metrics": point(0.7)}]
  text = learning_curve.table_at_hours({"fast": fast, "slow": slow}, ["instance_gain_db", "fid"], [0.5, 1.0])
  rows = text.splitlines()[2:]
  assert rows == ["| fast | 0.49 | 3000 | 1 [0.9, 1.1] | - |", "| slow | 0.51 | 1500 | 0.5 [0.4, 0.6] | - |",
                  "| fast | 1.02 | 6000 | 2 [1.9, 2.1] | - |"]  # slow has nothing within 0.1 h of 1.0
  with pytest.raises(BiglogitError, match="logs no train_hours"):
    learning_curve.table_at_hours({"old": [{"step": 1, "metrics": point(1.0)}]}, ["instance_gain_db"], [1.0])


def test_a_curve_over_hours_places_an_evaluation_at_a_step_the_log_never_reached(tmp_path):
  """A run stopped between log steps and evaluated afterwards: its record's own clock places it."""
  from biglogit.report import learning_curve
  from biglogit.evaluate import core
  point = {"psnr": {"mean": 10.0, "ci_low": 9.0, "ci_high": 11.0, "n": 4}}
  (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 100, "train_hours": 0.5}) + "\n")
  core.write_record(str(tmp_path / "eval"), {"run": "r", "step": 100, "num_examples": 4, "metrics": point},
                    stem="metrics_step_00000100")
  core.write_record(str(tmp_path / "eval"), {"run": "r", "step": 133, "train_hours": 0.61, "num_examples": 4,
                                              "metrics": point})
  curve = learning_curve.load_curve(str(tmp_path))
  assert [(r["step"], r["train_hours"]) for r in curve] == [(100, 0.5), (133, 0.61)]


def test_learning_curve_plots_the_periodic_evaluations(inverter_runs, tmp_path):
  from biglogit.report import learning_curve
  curve = learning_curve.load_curve(inverter_runs["gan"])
  assert [r["step"] for r in curve] == [4] and "baselines" in curve[0]
  out = learning_curve.plot({"gan": curve}, ["psnr", "retrieval_top1_pixel", "not_a_metric"],
                            str(tmp_path / "curve.png"))
  from PIL import Image
  width, height = Image.open(out).size
  assert width > 2 * height  # two panels side by side: the unknown metric is left out
  # the x axis in hours of training: the training log's clock at the evaluation's step
  logged = learning_curve.logged_hours(inverter_runs["gan"])
  assert curve[0]["train_hours"] == logged[4] > 0
  assert os.path.exists(learning_curve.plot({"gan": curve}, ["psnr"], str(tmp_path / "hours.png"), x="hours"))
  assert learning_curve.x_axis_for(curve) == "hours"
  assert learning_curve.each_path(str(tmp_path / "curves.png"), "gan") == str(tmp_path / "curves_gan.png")
  # FD on a log axis (a run near 1 beside baselines near 50): drawn when the evaluation has it
  assert os.path.exists(learning_curve.plot({"gan": curve}, ["fid"], str(tmp_path / "fid.png")))
  with pytest.raises(BiglogitError, match="has no logged train_hours at step"):
    before_the_clock = {k: v for k, v in curve[0].items() if k != "train_hours"}
    learning_curve.plot({"gan": [before_the_clock]}, ["psnr"], str(tmp_path / "old.png"), x="hours")
  # DeePSiM trained without periodic evaluation; without its eval/ folder (another test of this
  # worker may have evaluated the run since) it is a run that was never evaluated.
  never_evaluated = shutil.copytree(inverter_runs["deepsim"], tmp_path / "deepsim",
                                    ignore=shutil.ignore_patterns("eval"))
  with pytest.raises(BiglogitError, match="has no eval/metrics_step"):
    learning_curve.load_curve(str(never_evaluated))


def test_the_recipe_table_marks_only_intervals_that_separate_from_the_reference(inverter_runs, tmp_path):
  from biglogit.report import recipe
  root = tmp_path / "recipe"
  for name in ("ch8", "wide"):
    shutil.copytree(inverter_runs["gan"], root / name, ignore=shutil.ignore_patterns("checkpoints"))
    step_records = sorted((root / name / "eval").glob("metrics_step_*.json"))
    shutil.copy(step_records[-1], root / name / "eval" / "metrics.json")  # as a final evaluation (the pair)
    shutil.copy(step_records[-1].with_suffix(".md"), root / name / "eval" / "metrics.md")
  runs = recipe.gather(str(root))
  better = {"mean": 5.0, "ci_low": 4.0, "ci_high": 6.0}
  runs["wide"]["curve"][-1]["metrics"]["instance_gain_db"] = better
  runs["wide"]["curve"][-1]["metrics"]["fid"] = better  # a larger FD is worse
  ref = runs["ch8"]["curve"][-1]["metrics"]
  ref["instance_gain_db"] = ref["fid"] = {"mean": 1.0, "ci_low": 0.5, "ci_high": 1.5}
  text = recipe.markdown(runs, "ch8")
  wide = [line for line in text.splitlines() if line.startswith("| wide")]
  assert len(wide) == 1 and "5.00 [4.00, 6.00] **+**" in wide[0] and "5.00 [4.00, 6.00] **-**" in wide[0]
  assert wide[0].count("**") == 4  # the overlapping metrics are left unmarked
  assert "| baseline: nearest_logits" in text and "| chance |" in text
  assert recipe._versus({"mean": 1, "ci_low": 0.6, "ci_high": 1.4}, ref["instance_gain_db"], "instance_gain_db") == ""
  with pytest.raises(BiglogitError, match="--reference=ch4 is not among the runs"):
    recipe.markdown(runs, "ch4")
  with pytest.raises(BiglogitError, match="run launch/recipe_cifar10.sh first"):
    recipe.gather(str(tmp_path / "empty"))
