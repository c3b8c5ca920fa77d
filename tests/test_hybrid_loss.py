"""The hybrid objective: the GAN's generator loss plus DeePSiM's pixel and feature terms, sharing
their code with method=deepsim; off by default and refused where it would be ignored."""
import jax
import numpy as np
import pytest

from biglogit import BiglogitError, sharding
from biglogit import preflight
from biglogit import trainer as trainer_lib
from tests.conftest import save_tiny_classifier, toy_arrays


def _batch(config):
  t = config.train
  arrays = toy_arrays(t.d_steps * t.global_batch)
  shape = lambda a: a.reshape((t.d_steps, t.global_batch) + a.shape[1:])
  return {"image": shape(arrays["image"]), "logits": shape(arrays["logits"])}


def test_hybrid_terms_are_added_to_the_adversarial_loss(tiny_config, tmp_path):
  comparator = save_tiny_classifier(str(tmp_path / "comparator"), 3)
  tiny_config.train.hybrid_pixel_weight, tiny_config.train.hybrid_feature_weight = 2.0, 0.5
  tiny_config.deepsim.comparator = comparator
  mesh = sharding.make_mesh(jax.devices()[:1])
  preflight.validate_config(tiny_config, mesh)
  trainer = trainer_lib.build_trainer(tiny_config, mesh, comparator)
  state = trainer.init(jax.random.key(0))
  _, m = trainer.run_step(state, sharding.to_global(_batch(tiny_config), mesh, batch_axis=1))
  m = jax.device_get(m)
  assert m["pixel_loss"] > 0 and m["feature_loss"] > 0
  np.testing.assert_allclose(m["g_loss"], m["adversarial_loss"] + 2.0 * m["pixel_loss"] + 0.5 * m["feature_loss"],
                             rtol=1e-5)


@pytest.mark.parametrize("change,match", [
    ({"train.hybrid_pixel_weight": -1.0}, "hybrid_pixel_weight"),
    ({"train.hybrid_feature_weight": float("nan")}, "hybrid_feature_weight"),
    ({"method": "deepsim", "train.hybrid_pixel_weight": 1.0}, "used only with method=gan"),
    ({"deepsim.comparator": "x"}, "used only with method=deepsim"),
    ({"train.init_parts": "all"}, "used only with train.init_from")])
def test_bad_or_ignored_hybrid_settings_are_refused(tiny_config, change, match):
  for key, value in change.items():
    if "." in key:
      section, name = key.split(".")
      tiny_config[section][name] = value
    else:
      tiny_config[key] = value
  with pytest.raises(BiglogitError, match=match):
    preflight.validate_config(tiny_config, sharding.make_mesh())


def test_the_comparator_is_read_when_the_hybrid_is_on(tiny_config):
  tiny_config.train.hybrid_feature_weight = 0.1
  tiny_config.deepsim.comparator = "somewhere"  # no longer an ignored setting
  preflight.validate_config(tiny_config, sharding.make_mesh())
