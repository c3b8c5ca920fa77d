"""Own classifier training: the PGD adversarial step sharded on 8 devices equals one device; a tiny
adversarial run trains, reports clean/PGD accuracy, checkpoints, resumes, and writes a classifier
directory that the rest of biglogit loads."""
import functools

import jax
import numpy as np

from biglogit import sharding
from biglogit.classifiers import io as cio
from biglogit.classifiers import train as ctrain
from biglogit.train_logs import read_jsonl


def _config(image_folder):
  from configs import classifier_tiny
  c = classifier_tiny.get_config()
  c.data.source = image_folder
  c.adversarial.enabled = True
  return c


def test_adversarial_step_sharded_equals_single_device(image_folder):
  c = _config(image_folder)
  model = ctrain.build_model(c)
  tx = ctrain.make_optimizer(c, steps_per_epoch=1)
  images, labels, _ = ctrain.load_split(image_folder, "train", 32, 32)
  images, labels = images[:8], labels[:8]
  variables = model.init(jax.random.key(0), images[:1].astype(np.float32), train=False)
  init = ctrain.ClassifierState(step=np.int32(0), params=variables["params"],
                                batch_stats=variables["batch_stats"], opt_state=tx.init(variables["params"]),
                                rng=jax.random.key_data(jax.random.key(1)))
  outs = []
  for devices in (jax.devices()[:1], jax.devices()):
    mesh = sharding.make_mesh(devices)
    step = jax.jit(functools.partial(ctrain.train_step, model=model, tx=tx, config=c))
    batch = sharding.to_global({"image": images, "label": labels}, mesh)
    state, m = step(jax.device_put(init, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())), batch)
    outs.append(jax.device_get((state.params, state.batch_stats, m)))
  assert len(jax.devices()) == 8
  for a, b in zip(jax.tree_util.tree_leaves(outs[0]), jax.tree_util.tree_leaves(outs[1])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_tiny_adversarial_training_end_to_end_and_resume(image_folder, tmp_path):
  c = _config(image_folder)
  state, results = ctrain.train_classifier(c, str(tmp_path / "run"))
  assert int(state.step) == 2 * (13 // 8)  # 13 readable training images, batch 8, 2 epochs
  assert 0.0 <= results["pgd_accuracy"] <= results["clean_accuracy"] + 1e-9 <= 1.0 + 1e-9
  log = read_jsonl(str(tmp_path / "run" / "metrics.jsonl"))
  assert all(np.isfinite(r["loss"]) for r in log if "loss" in r)
  assert log[-1]["eval_pgd_examples"] == 6
  module, variables, meta = cio.load_classifier(str(tmp_path / "run" / "classifier"))
  assert meta["training"]["adversarial"]["enabled"] and meta["class_names"] == ["cat", "dog"]
  assert meta["evaluation"]["clean_accuracy"] == results["clean_accuracy"]
  out = module.apply(variables, np.zeros((2, 32, 32, 3), np.float32))
  assert out.shape == (2, 2)
  # one more epoch resumes from the last checkpoint instead of starting over
  c.train.num_epochs = 3
  state2, _ = ctrain.train_classifier(c, str(tmp_path / "run"))
  assert int(state2.step) == 3
  steps_logged = [r["step"] for r in read_jsonl(str(tmp_path / "run" / "metrics.jsonl")) if "loss" in r]
  assert steps_logged == [1, 2, 3]
  # the data position was saved by Grain's handler with each checkpoint, one file per process
  assert (tmp_path / "run" / "checkpoints" / "3" / "data" / "process_0-of-1.json").exists()
