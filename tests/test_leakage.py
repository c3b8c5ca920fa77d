"""Sample-level leakage metrics, chance levels and the trivial baselines, against hand-made cases; and
per-example determinism of reconstructions."""
import json
import os

import numpy as np
import pytest

from biglogit import BiglogitError
from biglogit.evaluate import trivial_inverters as B
from biglogit.evaluate import core
from biglogit.evaluate import metrics as M


def _classes(n_per_class=(7, 5, 9), seed=0):
  """Images whose class is their mean colour plus per-image texture, and their labels."""
  rng = np.random.default_rng(seed)
  labels = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)])
  colours = rng.uniform(0.2, 0.8, (len(n_per_class), 3))
  x = np.clip(colours[labels][:, None, None, :] + rng.normal(0, 0.1, (len(labels), 8, 8, 3)), 0, 1)
  return x, labels


def test_perfect_inverter_retrieves_every_original():
  x, labels = _classes()
  out = core.leakage(x, x, labels, "pixel")
  for name, hits in out.items():
    assert hits.mean() == 1.0, name
  assert np.all(M.instance_gain_db(x, x, labels) > 20.0)


def test_class_mean_inverter_scores_chance_within_class_and_no_instance_gain():
  x, labels = _classes()
  means = np.stack([x[labels == c].mean(0) for c in range(3)])
  x_hat = means[labels]
  out = core.leakage(x, x_hat, labels, "pixel")
  # All reconstructions of a class are one image: exactly one original per class is its nearest,
  # so within-class top-k hits equal the chance level exactly.
  for k in (1, 5):
    assert out[f"retrieval_top{k}_pixel_in_class"].mean() == pytest.approx(M.retrieval_chance(k, labels))
  assert M.retrieval_chance(1, labels) == pytest.approx(3 / len(labels))
  # Among all N the class is known, so it beats the all-N chance (1/N) but not within-class chance.
  assert out["retrieval_top1_pixel"].mean() > M.retrieval_chance(1, n=len(labels))
  assert np.nanmean(M.instance_gain_db(x_hat, x, labels)) == pytest.approx(0.0, abs=1e-9)


def test_constant_inverter_scores_chance_among_all():
  x, labels = _classes()
  out = core.leakage(x, np.full_like(x, 0.5), labels, "pixel")
  assert out["retrieval_top1_pixel"].mean() == pytest.approx(1 / len(x))  # ties count against it
  assert out["retrieval_top5_pixel"].mean() == pytest.approx(5 / len(x))


def test_retrieval_ranks_by_hand():
  gallery = np.array([[0.0], [1.0], [3.0]])
  queries = np.array([[0.9], [1.1], [2.0]])  # nearest: 1, 1, {1 and 3 tie at distance 1}
  np.testing.assert_array_equal(M.retrieval_ranks(queries, gallery), [1, 0, 1])
  np.testing.assert_array_equal(M.retrieval_ranks(queries, gallery, groups=[0, 1, 0]), [0, 0, 0])


def test_chance_levels():
  labels = np.repeat(np.arange(4), [1, 1, 1, 5])
  assert M.agreement_chance(np.arange(10)) == pytest.approx(0.1)
  assert M.agreement_chance(labels) == pytest.approx((3 * 1 + 25) / 64)
  assert M.retrieval_chance(5, n=100) == 0.05
  assert M.retrieval_chance(1, labels) == pytest.approx((3 * 1 + 5 * 0.2) / 8)
  assert M.retrieval_chance(5, labels) == 1.0  # every class has at most 5 members


def _reference():
  images = np.zeros((4, 2, 2, 3), np.uint8)
  images[1], images[2], images[3] = 100, 200, 255
  logits = np.array([[1, 0, 0], [10, 0, 0], [0, 1, 0], [0, 0, 2]], np.float32)
  return B.Reference(images, logits, labels=np.array([0, 0, 1, 2]))


def test_baseline_reconstructions_by_hand():
  ref = _reference()
  z = np.array([[9, 0.5, 0], [0, 0, 0.1]], np.float32)
  np.testing.assert_array_equal(B.reconstruct("constant", ref, z), 0.5)
  np.testing.assert_allclose(B.reconstruct("mean", ref, z), (0 + 100 + 200 + 255) / 4 / 255, rtol=1e-6)
  cm = B.reconstruct("class_mean", ref, z)  # predicted classes 0 and 2
  np.testing.assert_allclose(cm[0], 50 / 255, rtol=1e-6)
  np.testing.assert_allclose(cm[1], 1.0, rtol=1e-6)
  # Cosine picks the direction (row 0 and row 1 point the same way: the first wins the tie);
  # L2 picks the nearest point, row 1 for the large first logit.
  assert B.nearest_rows(z[:1], ref.logits, "cosine")[0] == 0
  assert B.nearest_rows(z[:1], ref.logits, "l2")[0] == 1
  np.testing.assert_allclose(B.reconstruct("nearest_logits", ref, z, "l2")[0], 100 / 255, rtol=1e-6)
  with pytest.raises(BiglogitError, match="use one of"):
    B.nearest_rows(z, ref.logits, "manhattan")
  with pytest.raises(BiglogitError, match="unknown baseline kind"):
    B.parse_kinds("constant,mode")


def test_class_mean_by_prediction_groups_training_images_by_phis_argmax():
  """Labels outside phi's classes (CIFAR-10 labels, ImageNet logits): grouped by label, every class
  of phi is empty and gets the overall mean; grouped by prediction, the class means come back."""
  ref = _reference()
  ref = B.Reference(ref.images, ref.logits, labels=np.array([5, 5, 6, 7]))
  z = np.array([[9, 0.5, 0], [0, 0, 0.1]], np.float32)
  np.testing.assert_allclose(B.reconstruct("class_mean", ref, z), (0 + 100 + 200 + 255) / 4 / 255, rtol=1e-6)
  by_prediction = B.reconstruct("class_mean", ref, z, class_mean_by="prediction")
  np.testing.assert_allclose(by_prediction[0], 50 / 255, rtol=1e-6)
  np.testing.assert_allclose(by_prediction[1], 1.0, rtol=1e-6)
  with pytest.raises(BiglogitError, match="class_mean_by='argmax'; use one of label, prediction"):
    B.reconstruct("class_mean", ref, z, class_mean_by="argmax")


def test_nearest_logits_on_its_own_training_set_is_a_perfect_inverter():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 255, (20, 4, 4, 3), dtype=np.uint8)
  ref = B.Reference(images, rng.normal(size=(20, 6)).astype(np.float32), np.arange(20) % 3)
  for d in B.DISTANCES:
    np.testing.assert_array_equal(B.reconstruct("nearest_logits", ref, ref.logits, d),
                                  images.astype(np.float32) / 255)


def test_robust_feature_network_must_differ_from_phi(inverter_runs):
  from biglogit.inverter import load_config
  config = load_config(inverter_runs["gan"])
  config.eval.robust_features = inverter_runs["phi"]
  with pytest.raises(BiglogitError, match="robust_features.*is phi itself"):
    core.Evaluator(config, {"classifier_dir": inverter_runs["phi"]})


def test_reconstruction_of_an_image_does_not_depend_on_its_batch(inverter_runs):
  from biglogit.inverter import Inverter
  inv = Inverter.load(inverter_runs["gan"])
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(200, 10)).astype(np.float32)
  indices = np.arange(1000, 1200)
  together = inv.reconstruct(logits, seed=3, indices=indices)
  chosen = np.sort(rng.choice(200, 16, replace=False))
  alone = inv.reconstruct(logits[chosen], seed=3, indices=indices[chosen])
  # eps is a function of (seed, index) alone: bitwise the same draws.
  np.testing.assert_array_equal(inv.sample_eps(indices[chosen], 3), inv.sample_eps(indices, 3)[chosen])
  # The images agree to float rounding: XLA's CPU kernels may vectorise an example differently at
  # another position of the batch (measured: <= 2.4e-7, a few ulps), nothing more.
  np.testing.assert_allclose(alone, together[chosen], rtol=0, atol=1e-6)
  # Without per-index eps (the old batch-position draw) the same images would differ grossly.
  assert np.abs(inv.reconstruct(logits[chosen], seed=3) - together[chosen]).max() > 1e-2
  assert not np.array_equal(inv.sample_eps(indices[:2], 3), inv.sample_eps(indices[:2], 4))


def test_evaluate_and_baselines_cli_carry_baselines_and_chance(inverter_runs, tmp_path):
  from biglogit import baselines as baselines_cli
  from biglogit.report import page as report
  from biglogit.evaluate.__main__ import run
  record = run(inverter_runs["gan"], out=str(tmp_path / "eval"))
  assert set(record["baselines"]) == set(B.KINDS)
  for name in ("retrieval_top1_pixel", "retrieval_top5_pixel_in_class", "retrieval_top1_feature",
               "instance_gain_db", "phi_top1_agreement"):
    assert "chance" in record["metrics"][name], name
    assert name in record["baselines"]["nearest_logits"]
  assert record["metrics"]["retrieval_top1_pixel"]["chance"] == pytest.approx(1 / record["num_examples"])
  md = (tmp_path / "eval" / "metrics.md").read_text()
  assert "| chance | constant | mean | class_mean | nearest_logits |" in md
  out = tmp_path / "nearest"
  rec = baselines_cli.run("nearest_logits", inverter_runs["dataset"], str(out), num_examples=16,
                          identifier=inverter_runs["identifier"], robust_features=inverter_runs["identifier"])
  with open(out / "eval" / "metrics.json") as f:
    assert json.load(f)["method"] == "baseline:nearest_logits"
  # Same examples and reference, same numbers as the copy inside the inverter's record.
  assert rec["metrics"]["psnr"]["mean"] == pytest.approx(record["baselines"]["nearest_logits"]["psnr"]["mean"])
  assert os.path.exists(out / "eval" / "grid.png")
  os.makedirs(tmp_path / "run" / "eval")
  os.replace(tmp_path / "eval" / "metrics.json", tmp_path / "run" / "eval" / "metrics.json")
  page = open(report.build([str(tmp_path / "run"), str(out)], str(tmp_path / "report"))).read()
  assert "| nearest |" in page and "baseline: class_mean [" in page and "| chance |" in page


def test_nearest_logits_searches_in_the_released_format_and_top1_is_label_only(inverter_runs, tmp_path):
  """What an attacker of an API holds: the released vectors. Under a top-1 release every query of a
  class has the same one-hot vector, so nearest logits returns one image per predicted class: a
  label-only baseline, by construction."""
  from biglogit import baselines as baselines_cli
  from biglogit.data import release as release_lib
  from biglogit.report import leakage
  out = tmp_path / "root" / "toy" / "nearest_logits"  # the layout of launch/leakage_cifar10.sh
  records = baselines_cli.run("nearest_logits", inverter_runs["dataset"], str(out), num_examples=32,
                              release=["full", "top1", "rounded:1"])
  assert set(records) == {"full", "top1", "rounded:1"}
  for folder in ("release=full", "release=top1", "release=rounded1"):
    assert (out / folder / "eval" / "metrics.json").exists()
  assert records["top1"]["settings"]["release"] == "top1"
  assert "top-1 label (one-hot)" in records["top1"]["release"]
  # the table and figure: one row per classifier, one column per format in the release order
  table = leakage.gather(str(tmp_path / "root"))
  text = leakage.markdown(table, ["instance_gain_db"])
  assert "| classifier | full | top1 | rounded:1 | class mean | chance |" in text
  gain = records["top1"]["metrics"]["instance_gain_db"]
  assert "| toy | " in text and f"{gain['mean']:.2f} [{gain['ci_low']:.2f}, {gain['ci_high']:.2f}]" in text
  assert os.path.getsize(leakage.figure(table, ["instance_gain_db"], str(tmp_path / "f.png"))) > 1000
  # the search itself, on the toy's logits: top-1 released vectors give one image per predicted class
  examples, _ = core.held_out(_toy_config(inverter_runs), "test", 32)
  reference = B.load_reference(inverter_runs["dataset"], "train")
  top1 = release_lib.from_key("top1")
  released = B.Reference(reference.images, np.asarray(release_lib.apply(top1, reference.logits)), reference.labels)
  x_hat = B.reconstruct("nearest_logits", released, np.asarray(release_lib.apply(top1, examples["logits"])))
  predicted = examples["logits"].argmax(-1)
  for c in np.unique(predicted):
    same = x_hat[predicted == c]
    assert np.array_equal(same, np.broadcast_to(same[0], same.shape)), c  # a function of the label alone
  full = B.reconstruct("nearest_logits", reference, examples["logits"])
  assert len({x.tobytes() for x in full}) > len(np.unique(predicted))  # the full logits tell images apart
  with pytest.raises(BiglogitError, match="release format 'top5'; use one of"):
    baselines_cli.run("nearest_logits", inverter_runs["dataset"], str(tmp_path / "bad"), release=["top5"])


def _toy_config(inverter_runs):
  from biglogit.config_base import base_config
  c = base_config()
  c.data.dataset = inverter_runs["dataset"]
  return c


def test_export_card_and_evaluating_an_export(inverter_runs, tmp_path):
  from biglogit import export
  from biglogit.evaluate.__main__ import run
  from biglogit.inverter import Inverter
  out = tmp_path / "toy_gan"
  export.export(inverter_runs["gan"], str(out), hardware="2 CPU cores")
  card = (out / "MODEL_CARD.md").read_text()
  assert card.startswith("# toy_gan:")  # the title is the release folder's name
  assert inverter_runs["root"] not in card and "/tmp" not in card  # no path of the training machine
  assert "![original | reconstruction" in card and (out / export.GRID).exists()
  from PIL import Image
  assert Image.open(out / export.GRID).height > 32 * 3 * 2  # several rows: several classes
  # One loader: evaluate (and the experiments) take an export folder as well as a workdir.
  assert Inverter.load(str(out)).step == 4  # from release.json
  record = run(str(out), out=str(tmp_path / "eval"))
  assert "retrieval_top1_pixel" in record["metrics"]
  from biglogit.experiments import noise
  noise.run(str(out), str(tmp_path / "noise"), num_images=2, num_samples=2, num_examples=4)
  assert (tmp_path / "noise" / "noise.json").exists()


def test_export_to_object_storage_publishes_every_file_with_the_card_last(inverter_runs, tmp_path,
                                                                          monkeypatch):
  """`export --out=gs://...`: assembled in a local temporary folder, then every file copied through
  epath, the card last (a release with a card is complete). Here a local folder plays the bucket."""
  from etils import epath
  from biglogit import export, files
  from biglogit.inverter import Inverter
  bucket, published = tmp_path / "bucket", []
  path_class = type(epath.Path(tmp_path))
  real_write = path_class.write_bytes

  def spy_write(self, data):
    if str(self).startswith(str(bucket)):
      published.append(str(self))
    return real_write(self, data)

  monkeypatch.setattr(files, "is_remote", lambda p: str(p).startswith(str(bucket)))
  monkeypatch.setattr(path_class, "write_bytes", spy_write)
  release = bucket / "releases" / "toy_gan"
  export.export(inverter_runs["gan"], str(release), hardware="2 CPU cores")
  monkeypatch.undo()
  assert os.listdir(bucket / "releases") == ["toy_gan"]  # nothing staged beside it
  assert published[-1] == str(release / "MODEL_CARD.md")
  assert {os.path.basename(p) for p in published} >= {"config.json", "release.json", export.GRID}
  assert (release / "MODEL_CARD.md").read_text().startswith("# toy_gan:")
  assert Inverter.load(str(release)).step == 4
