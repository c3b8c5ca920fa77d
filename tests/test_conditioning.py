"""What G and D are fed of the logits (data/conditioning.py): statistics stored once with the dataset
and carried to the run, the export and the loader; raw logits in everywhere; D's two terms logged;
the logit-consistency loss."""
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from biglogit import BiglogitError, export, resume_guard, sharding, steps
from biglogit import preflight
from biglogit import trainer as trainer_lib
from biglogit import state as state_lib
from biglogit.data import conditioning
from biglogit.data import dataset as dataset_lib
from biglogit import inverter as inverter_lib
from biglogit.inverter import Inverter
from tests.conftest import toy_arrays


def _metadata(path):
  return json.loads((dataset_lib.epath.Path(path) / "metadata.json").read_text())


def test_dataset_stores_statistics_of_each_release_format_on_the_released_vectors(tmp_path):
  train_arrays, test_arrays = toy_arrays(40, seed=0), toy_arrays(24, seed=3)
  path = dataset_lib.write_numpy_dataset(str(tmp_path), "stats", {"test": test_arrays, "train": train_arrays})
  stats = _metadata(path)[conditioning.METADATA_KEY]
  assert stats["split"] == "train" and stats["count"] == 40  # the training split, whatever the order
  z = train_arrays["logits"].astype(np.float64)
  np.testing.assert_allclose(stats["formats"]["full"]["mean"], z.mean(0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(stats["formats"]["full"]["std"], z.std(0), rtol=1e-5)
  # top-1: the statistics of the one-hot vectors, not of the logits: class frequencies p and sqrt(p(1-p))
  p = np.bincount(z.argmax(-1), minlength=10) / len(z)
  np.testing.assert_allclose(stats["formats"]["top1"]["mean"], p, atol=1e-7)
  expected_std = np.sqrt(p * (1 - p))
  expected_std[expected_std == 0] = 1.0  # a class never predicted: only centred
  np.testing.assert_allclose(stats["formats"]["top1"]["std"], expected_std, rtol=1e-6)
  softmax = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
  np.testing.assert_allclose(stats["formats"]["softmax"]["mean"], softmax.mean(0), rtol=1e-5)
  assert set(stats["formats"]) == {"full", "softmax", "topk:5", "top1", "rounded:2", "rounded:1"}


def _config(release_kind="full", normalize="standardize", **release):
  from configs import tiny
  c = tiny.get_config()
  c.release.kind = release_kind
  for k, v in release.items():
    c.release[k] = v
  c.conditioning.normalize = normalize
  return c


def test_resolve_takes_the_stored_statistics_and_computes_only_what_is_missing():
  z = toy_arrays(50)["logits"]
  metadata = {conditioning.METADATA_KEY: conditioning.dataset_stats(z, "train")}

  def must_not_read():
    raise AssertionError("the statistics are stored; the split must not be read again")

  c = _config("top1")
  assert conditioning.resolve(c, metadata, must_not_read).startswith("dataset metadata")
  assert c.conditioning.mean == metadata[conditioning.METADATA_KEY]["formats"]["top1"]["mean"]
  # a format the dataset has no statistics for (top-3), or a dataset from before them: computed now
  for c, meta in ((_config("topk", k=3), metadata), (_config("full"), {})):
    assert conditioning.resolve(c, meta, lambda: z).startswith("computed now")
    assert c.conditioning.mean == conditioning.compute_stats(z, c.release)["mean"]
  # statistics already in the config (a resumed run's config.json, or the user's) are kept
  assert conditioning.resolve(c, {}, must_not_read) == "config"
  assert conditioning.resolve(_config(normalize="unit_norm"), {}, must_not_read) is None
  # a non-finite row (a broken fixture; training refuses it when it meets it) does not poison them
  poisoned = np.concatenate([z, np.full((1, 10), np.nan, np.float32)])
  assert conditioning.compute_stats(poisoned, c.release) == conditioning.compute_stats(z, c.release)


def test_normalisers():
  z = toy_arrays(8)["logits"] * 5
  c = _config()
  c.conditioning.mean, c.conditioning.std = list(np.arange(10.0)), list(np.arange(1.0, 11.0))
  expected = (z - np.arange(10.0)) / (np.arange(1.0, 11.0) * np.sqrt(10))
  np.testing.assert_allclose(conditioning.apply(c, z), expected, rtol=1e-5, atol=1e-6)
  unit = np.asarray(conditioning.apply(_config(normalize="unit_norm"), z))
  np.testing.assert_allclose(np.linalg.norm(unit, axis=-1), 1.0, rtol=1e-5)
  np.testing.assert_array_equal(conditioning.apply(_config(normalize="none"), z), z)
  # a config from before the key (old config.json): the release only
  old = ml_collections.ConfigDict({k: v for k, v in _config().to_dict().items() if k != "conditioning"})
  np.testing.assert_array_equal(conditioning.apply(old, z), z)
  # standardised vectors have unit expected squared norm, whatever C
  for num_classes in (10, 1000):
    zz = np.random.default_rng(0).normal(3, 7, (4000, num_classes)).astype(np.float32)
    c = _config()
    conditioning.resolve(c, {}, lambda: zz)
    norms = np.sum(np.square(np.asarray(conditioning.apply(c, zz))), axis=-1)
    assert abs(norms.mean() - 1.0) < 0.02


@pytest.mark.parametrize("setting, message", [
    ({"conditioning.normalize": "layer"}, "conditioning.normalize='layer'; use one of"),
    ({"conditioning.mean": [0.0] * 3, "conditioning.std": [1.0] * 3}, "have 3/3 values for model.num_classes=10"),
    ({"conditioning.mean": [0.0] * 10, "conditioning.std": [0.0] * 10}, "conditioning.std must be above 0"),
    ({"conditioning.mean": [float("nan")] * 10, "conditioning.std": [1.0] * 10},
     r"conditioning.mean=\[nan, .*\]; use a list of finite numbers"),
    ({"train.consistency_weight": -1.0}, "train.consistency_weight=-1.0; use a finite number of at least 0"),
    ({"train.consistency_weight": 0.5, "release.kind": "top1"}, "needs a differentiable release"),
])
def test_bad_conditioning_settings_are_one_line_before_compiling(setting, message):
  c = _config()
  for key, value in setting.items():
    section, name = key.split(".")
    c[section][name] = value
  with pytest.raises(BiglogitError, match=message):
    preflight.validate_config(c, sharding.make_mesh())


def test_statistics_travel_from_the_dataset_through_the_run_and_export_to_the_loader(inverter_runs, tmp_path):
  stored = _metadata(inverter_runs["dataset"])[conditioning.METADATA_KEY]["formats"]["full"]
  run_config = json.loads(open(os.path.join(inverter_runs["gan"], "config.json")).read())["conditioning"]
  assert run_config == {"normalize": "standardize", **stored}
  out = export.export(inverter_runs["gan"], str(tmp_path / "release"), hardware="2 CPU cores")
  loaded = Inverter.load(out)
  assert loaded.config.conditioning.to_dict() == run_config
  assert "standardised per dimension" in (tmp_path / "release" / "MODEL_CARD.md").read_text()
  # the DeePSiM run saw the top-3 release: its statistics are those of the top-3 vectors
  deepsim = Inverter.load(inverter_runs["deepsim"]).config
  z = np.concatenate([np.asarray(dataset_lib.open_split(inverter_runs["dataset"], "train")[0][i]["logits"])[None]
                      for i in range(64)])
  np.testing.assert_allclose(deepsim.conditioning.mean, conditioning.compute_stats(z, deepsim.release)["mean"],
                             rtol=1e-5, atol=1e-7)


def test_raw_logits_in_same_images_whether_the_inverter_or_the_caller_standardises(inverter_runs):
  inv = Inverter.load(inverter_runs["gan"])
  z = toy_arrays(6, seed=5)["logits"] * 3
  images = inv.reconstruct(z, seed=2)
  c = inv.config.conditioning
  pre = ((z - np.asarray(c.mean, np.float32)) / (np.asarray(c.std, np.float32) * np.sqrt(10))).astype(np.float32)
  # Equal up to float32 rounding: XLA fuses the standardisation into G's first layers differently
  # from a vector computed outside (measured: up to 7e-4 in [0, 1] pixels on this tiny G, against
  # differences of order 0.1 when G is fed the raw logits instead, checked last).
  close = dict(atol=3e-3)
  np.testing.assert_allclose(inv.reconstruct(pre, seed=2, conditioned=True), images, **close)
  np.testing.assert_allclose(inv.condition(z), pre, rtol=1e-5, atol=1e-6)
  # the same generator with the normalisation disabled, fed the caller's standardised vectors
  plain = ml_collections.ConfigDict(inv.config.to_dict())
  plain.conditioning.normalize = "none"
  disabled = Inverter(plain, inv.generator, inv.params, inv.g_stats, name="plain", step=inv.step)
  np.testing.assert_allclose(disabled.reconstruct(pre, seed=2), images, **close)
  # and not the raw logits: the normalisation changes what G draws
  assert np.abs(disabled.reconstruct(z, seed=2) - images).max() > 30 * close["atol"]


def test_an_export_from_before_the_statistics_still_loads_and_feeds_raw_logits(inverter_runs, tmp_path):
  out = export.export(inverter_runs["gan"], str(tmp_path / "old"), hardware="2 CPU cores")
  config_path = tmp_path / "old" / "config.json"
  config = json.loads(config_path.read_text())
  del config["conditioning"], config["train"]["consistency_weight"], config["train"]["consistency_classifier"]
  config_path.write_text(json.dumps(config))
  # as such an export was written then: its digest covered the weights only, not config.json's fields
  digest_path = tmp_path / "old" / inverter_lib.EXPORT_DIGEST
  digests = json.loads(digest_path.read_text())
  digest_path.write_text(json.dumps({k: v for k, v in digests.items() if ":" not in k}))
  old = Inverter.load(out)
  z = toy_arrays(4, seed=6)["logits"]
  np.testing.assert_array_equal(old.condition(z), z)
  np.testing.assert_array_equal(old.reconstruct(z, seed=1), old.reconstruct(z, seed=1, conditioned=True))


def test_a_run_from_before_the_key_resumes_only_with_raw_logits():
  spec = type("Spec", (), {"num_examples": 1, "num_classes": 10, "resolution": 32, "metadata": {},
                           "class_names": None})()
  before = resume_guard.identity(_config(normalize="none"), spec, 8)
  assert "conditioning.normalize" not in before  # as a run recorded before the key existed
  changes = resume_guard.differences(before, resume_guard.identity(_config(), spec, 8))
  assert changes == {"conditioning.normalize": (None, "standardize")}


def test_discriminator_terms_sum_to_its_output_and_are_logged(tiny_config):
  _, discriminator = state_lib.build_models(tiny_config.model)
  arrays = toy_arrays(8)
  real = steps.images_to_float(arrays["image"])
  variables = discriminator.init(jax.random.key(0), real, arrays["logits"], train=False)
  whole = discriminator.apply(variables, real, arrays["logits"], train=False)
  realism, consistency = discriminator.apply(variables, real, arrays["logits"], train=False, terms=True)
  np.testing.assert_allclose(realism + consistency, whole, rtol=1e-6)
  loss, (_, d_real, _, terms) = steps.discriminator_pass(
      discriminator, variables["params"], variables["batch_stats"], real, real[::-1], arrays["logits"])
  assert set(terms) == {"d_real_w1", "d_real_w2z", "d_fake_w1", "d_fake_w2z"}
  assert all(float(v) > 0 for v in terms.values())


def test_consistency_loss_trains_g_through_frozen_phi_and_leaves_d_alone(inverter_runs):
  """train.consistency_weight: the step's G update changes, D's does not, and phi is no part of the
  trained state (its variables are passed in as frozen aux)."""
  from configs import tiny
  results = {}
  for weight in (0.0, 2.0):
    c = tiny.get_config()
    c.data.dataset = inverter_runs["dataset"]
    c.train.consistency_weight = weight
    conditioning.resolve(c, _metadata(inverter_runs["dataset"]), None)
    mesh = sharding.make_mesh(jax.devices()[:1])
    trainer = trainer_lib.build_trainer(c, mesh, phi=inverter_runs["phi"] if weight else "")
    state = trainer.init(jax.random.key(0))
    arrays = toy_arrays(c.train.d_steps * c.train.global_batch)
    batch = {k: jnp.asarray(v.reshape((c.train.d_steps, c.train.global_batch) + v.shape[1:]))
             for k, v in arrays.items() if k in ("image", "logits")}
    phi_before = jax.tree_util.tree_map(np.array, trainer.aux)
    new_state, metrics = trainer.run_step(state, batch)
    results[weight] = (jax.device_get(new_state), jax.device_get(metrics), phi_before, trainer.aux)
  (plain, m0, _, _), (lam, m2, phi_before, aux) = results[0.0], results[2.0]
  assert "consistency_loss" not in m0 and np.isfinite(m2["consistency_loss"]) and m2["consistency_loss"] > 0
  same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
  assert same(plain.d_params, lam.d_params)  # D's update does not see the term
  assert not same(plain.g_params, lam.g_params)  # G's does
  assert jax.tree_util.tree_structure(plain) == jax.tree_util.tree_structure(lam)  # phi is not trained state
  assert same(phi_before, jax.device_get(aux))
