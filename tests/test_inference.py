"""The inference-time levers (biglogit/inference.py): truncation, best-of-K, refinement; their flags on
evaluate and export, a release's recorded defaults, and the plain path left bit for bit."""
import glob
import json
import os

import jax
import numpy as np
import pytest
from absl import flags

from biglogit import BiglogitError
from biglogit import export
from biglogit import inference
from biglogit.evaluate import __main__ as evaluate_main
from biglogit.inverter import Inverter
from tests.conftest import REPO

RELEASES = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(REPO, "pretrained", "*", "*", "release.json")))


@pytest.fixture(scope="module")
def gan(inverter_runs):
  inv = Inverter.load(inverter_runs["gan"])
  z = np.random.default_rng(0).normal(0, 3, (12, inv.config.model.num_classes)).astype(np.float32)
  return inv, z, inverter_runs["phi"]


def test_truncation_zero_gives_one_image_for_every_seed(gan):
  inv, z, _ = gan
  first = inv.reconstruct(z, seed=0, truncation=0)
  for seed in (1, 7):
    np.testing.assert_array_equal(inv.reconstruct(z, seed=seed, truncation=0), first)
  assert np.abs(inv.reconstruct(z, seed=1) - inv.reconstruct(z, seed=0)).max() > 1e-3  # plain draws differ
  eps = inference.sample_eps(np.arange(50), 0, 120, truncation=0.5)
  assert np.abs(eps).max() <= 0.5 and eps.std() > 0.1


def test_best_of_k_never_chooses_a_farther_draw_than_k1(gan):
  inv, z, phi = gan
  k1 = inv.invert(z, settings=inv.inference.replace(best_of=2, classifier=phi))
  for k in (2, 5):
    r = inv.invert(z, settings=inv.inference.replace(best_of=k, classifier=phi))
    assert r.draw_distances.shape == (k, len(z))
    np.testing.assert_array_equal(r.draw_distances[0], k1.draw_distances[0])  # the same first draw
    np.testing.assert_array_equal(r.distance, r.draw_distances.min(0))
    assert (r.distance <= r.draw_distances[0]).all()
    kept_first = r.draw_distances[0] <= r.draw_distances[1:].min(0)
    np.testing.assert_array_equal(r.images[kept_first], inv.reconstruct(z, seed=0)[kept_first])
  assert (r.distance < r.draw_distances[0]).any()


@pytest.mark.parametrize("offset", [False, True])
def test_refinement_lowers_its_objective(gan, offset):
  inv, z, phi = gan
  r = inv.invert(z, settings=inv.inference.replace(refine_steps=15, refine_lr=0.1, refine_offset=offset,
                                                   classifier=phi))
  assert r.objective.shape == (16, len(z))
  assert r.objective[-1].mean() < r.objective[0].mean()
  assert (r.objective[-1] <= r.objective[0] + 1e-6).mean() >= 0.75
  assert np.abs(r.offset).max() > 0 if offset else np.abs(r.offset).max() == 0
  assert r.images.shape == (len(z), 32, 32, 3) and np.isfinite(r.images).all()


def test_levers_compose_and_reconstruct_returns_their_images(gan):
  inv, z, phi = gan
  s = inv.inference.replace(truncation=0.7, best_of=3, refine_steps=3, classifier=phi)
  np.testing.assert_array_equal(inv.invert(z, seed=4, settings=s).images,
                                inv.reconstruct(z, seed=4, truncation=0.7, best_of=3, refine_steps=3, classifier=phi))


@pytest.mark.parametrize("setting,value", [
    ("truncation", -0.5), ("truncation", float("nan")), ("best_of", 0), ("best_of", 1.5), ("best_of", 10**6),
    ("refine_steps", -1), ("refine_lr", 0.0), ("refine_prior", -1.0), ("offset_prior", float("inf")),
    ("refine_offset", "yes"), ("no_such_lever", 1)])
def test_bad_settings_are_one_line(gan, setting, value):
  inv, z, _ = gan
  with pytest.raises(BiglogitError, match=setting):
    inv.reconstruct(z, **{setting: value})


def test_a_lever_that_reads_phi_without_one_is_refused(gan):
  inv, z, _ = gan  # the tiny config names no data.classifier
  with pytest.raises(BiglogitError, match="classifier"):
    inv.reconstruct(z, best_of=2)
  with pytest.raises(BiglogitError, match="was not found"):
    inv.reconstruct(z, best_of=2, classifier="/no/such/phi")


def test_deepsim_takes_only_input_refinement(inverter_runs):
  inv = Inverter.load(inverter_runs["deepsim"])
  z = np.zeros((2, inv.config.model.num_classes), np.float32)
  for bad in ({"truncation": 0.5}, {"best_of": 2}, {"refine_steps": 2}):
    with pytest.raises(BiglogitError, match="ignores"):
      inv.reconstruct(z, classifier=inverter_runs["phi"], **bad)
  out = inv.reconstruct(z, refine_steps=2, refine_offset=True, classifier=inverter_runs["phi"])
  assert out.shape == (2, 32, 32, 3)


def _parsed(argv):
  values = flags.FlagValues()
  inference.define_flags(values)
  values(["prog"] + argv)
  return inference.overrides_from_flags(values)


def test_lever_flags_round_trip_through_evaluate(inverter_runs, tmp_path):
  levers = _parsed(["--truncation=0.5", "--best_of=3", "--refine_steps=2", "--refine_lr=0.02",
                    "--refine_offset", f"--inference_classifier={inverter_runs['phi']}"])
  record = evaluate_main.run(inverter_runs["gan"], out=str(tmp_path / "eval"), overrides={"noise_samples": 0},
                             levers=levers)
  got = inference.from_dict({k: v for k, v in record["inference"].items()
                             if k not in ("described", "seconds_per_image")})
  assert got == inference.Settings(truncation=0.5, best_of=3, refine_steps=2, refine_lr=0.02, refine_offset=True,
                                   classifier=inverter_runs["phi"])
  assert "best of 3" in (tmp_path / "eval" / "metrics.md").read_text()
  assert _parsed([]) == {} and _parsed(["--truncation=none"]) == {"truncation": None, "truncation_off": True}
  for bad in (["--best_of=0"], ["--refine_steps=-1"], ["--refine_prior=-2"]):
    with pytest.raises(flags.IllegalFlagValueError):
      _parsed(bad)
  with pytest.raises(BiglogitError, match="truncation"):
    _parsed(["--truncation=half"])


def test_every_integer_and_float_lever_flag_has_bounds():
  values = flags.FlagValues()
  inference.define_flags(values)
  numeric = [name for name in inference.FLAG_NAMES
             if isinstance(values[name].parser, (flags.IntegerParser, flags.FloatParser))]
  assert len(numeric) == 5
  for name in numeric:
    assert values[name].parser.lower_bound is not None and values[name].parser.upper_bound is not None, name


def test_a_release_records_its_levers_and_load_applies_them(inverter_runs, tmp_path):
  out = str(tmp_path / "release")
  export.export(inverter_runs["gan"], out, "2 CPU cores",
                levers={"best_of": 3, "truncation": 0.8, "classifier": inverter_runs["phi"]})
  info = json.load(open(os.path.join(out, "release.json")))
  assert info["inference"]["best_of"] == 3 and not os.path.isabs(info["inference"]["classifier"])
  assert info["inference"]["classifier_sha256"]
  released = Inverter.load(out)
  assert released.inference.best_of == 3 and released.inference.truncation == 0.8
  z = np.random.default_rng(1).normal(0, 3, (6, 10)).astype(np.float32)
  by_hand = Inverter.load(inverter_runs["gan"]).reconstruct(z, best_of=3, truncation=0.8,
                                                              classifier=inverter_runs["phi"])
  np.testing.assert_array_equal(released.reconstruct(z), by_hand)
  os.chdir(tmp_path)  # phi is found relative to the release from any working directory
  try:
    np.testing.assert_array_equal(Inverter.load(out).reconstruct(z), by_hand)
  finally:
    os.chdir(REPO)
  released.set_inference(truncation_off=True, best_of=1)
  np.testing.assert_array_equal(released.reconstruct(z), Inverter.load(inverter_runs["gan"]).reconstruct(z))


def test_export_refuses_levers_whose_phi_is_missing_before_writing(inverter_runs, tmp_path):
  out = tmp_path / "release"
  with pytest.raises(BiglogitError, match="was not found"):
    export.export(inverter_runs["gan"], str(out), "2 CPU cores", levers={"best_of": 2, "classifier": "/nope"})
  assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("release", RELEASES, ids=os.path.basename)
def test_without_levers_every_release_is_the_plain_forward_pass(release):
  """Bit for bit what G(c(z), eps) with eps ~ N(0, 1) drawn per index was before the levers existed."""
  inv = Inverter.load(release)
  assert inv.inference.plain or json.load(open(os.path.join(release, "release.json"))).get("inference")
  if not inv.inference.plain:
    pytest.skip("this release records levers as its defaults")
  inv.batch_size = 3  # the images do not depend on the padded batch's size; a GPU release's 256 costs 5 s a call here
  z = np.random.default_rng(2).normal(0, 3, (3, inv.config.model.num_classes)).astype(np.float32)
  key = jax.random.key(5)
  eps = np.stack([np.asarray(jax.random.normal(jax.random.fold_in(key, i), (inv.dim_z,), np.float32))
                  for i in (0, 1, 2)])
  np.testing.assert_array_equal(inv.reconstruct(z, seed=5), inv.reconstruct(z, eps=eps))
  np.testing.assert_array_equal(inv.reconstruct(z, seed=5), inv.reconstruct(z, seed=5, best_of=1, refine_steps=0))
