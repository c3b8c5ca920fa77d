"""Own classifier training: the PGD adversarial step sharded on 8 devices equals one device; a tiny
adversarial run trains, reports clean/PGD accuracy, checkpoints, resumes, and writes a classifier
directory that the rest of biglogit loads."""
import dataclasses
import functools
import os

import jax
import numpy as np
import optax
import pytest

from biglogit import BiglogitError

from biglogit import sharding
from biglogit.classifiers import card
from biglogit.classifiers import io as cio
from biglogit.classifiers import fit as ctrain
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


def test_tiny_adversarial_training_end_to_end_resume_and_release(image_folder, tmp_path):
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
  # released with a model card written from the run's own records (biglogit.classifiers.card)
  run, out = str(tmp_path / "run"), str(tmp_path / "released" / "tiny")
  text = card.release(run, out, "configs/classifier_tiny.py", "a tiny test model", "tests", "2-core CPU")
  _, released, meta2 = cio.load_classifier(out)
  assert meta2["source_checkpoint"] == f"{run}/checkpoints/3 (not released)"
  assert (tmp_path / "released" / "tiny" / card.CARD).read_text() == text
  n_params = card.parameter_count(released)
  assert f"{n_params:,} parameters" in text and n_params == sum(np.size(v) for v in
                                                                 jax.tree_util.tree_leaves(variables["params"]))
  assert f"--config=configs/classifier_tiny.py --workdir={run}" in text and f"PGD-2, L-inf eps {c.adversarial.eps * 255:g}/255" in text
  e = meta2["evaluation"]
  assert e["clean_examples"] == 6  # the image folder's readable test images
  low, high = card.wilson_interval(round(e["pgd_accuracy"] * 6), 6)
  assert f"{100 * e['pgd_accuracy']:.2f}% [{100 * low:.1f}, {100 * high:.1f}] (6 images)" in text
  assert "Overfitting guard" not in text  # no held-out images: no guard line
  with pytest.raises(BiglogitError, match="exists; a release is never overwritten"):
    card.release(run, out, "configs/classifier_tiny.py", "t", "p", "h")
  with pytest.raises(BiglogitError, match="holds no trained classifier"):
    card.release(str(tmp_path / "nothing"), str(tmp_path / "r2"), "c", "t", "p", "h")
  assert "tiny" in card.table([out]) and f"| {n_params:,} |" in card.table([out])


def test_wilson_interval_matches_the_published_values():
  assert [round(v, 3) for v in card.wilson_interval(163, 500)] == [0.286, 0.368]
  assert card.wilson_interval(0, 500)[0] == 0.0 and round(card.wilson_interval(0, 500)[1], 4) == 0.0076
  with pytest.raises(BiglogitError, match="at least one trial"):
    card.wilson_interval(0, 0)


def test_fgsm_rs_stays_in_the_ball_moves_every_image_and_its_loss_reaches_the_model(image_folder):
  c = _config(image_folder)
  c.adversarial.method, c.adversarial.eps = "fgsm_rs", 8 / 255
  model = ctrain.build_model(c)
  images, labels, _ = ctrain.load_split(image_folder, "train", 32, 32)
  x = images[:8].astype(np.float32) / 255
  variables = model.init(jax.random.key(0), x[:1], train=False)
  logits_fn = lambda v: model.apply(variables, v, train=False)
  x_adv = ctrain.adversarial_examples(logits_fn, x, labels[:8], c.adversarial, jax.random.key(3))
  delta = np.abs(np.asarray(x_adv) - x)
  assert delta.max() <= 8 / 255 + 1e-6 and 0 <= float(x_adv.min()) and float(x_adv.max()) <= 1
  assert (delta.reshape(8, -1).max(1) > 4 / 255).all()  # every image moved, most pixels to the ball's edge
  loss = lambda v: float(optax.softmax_cross_entropy_with_integer_labels(logits_fn(v), labels[:8]).mean())
  random_start = np.clip(x + np.random.default_rng(0).uniform(-8 / 255, 8 / 255, x.shape), 0, 1).astype(np.float32)
  assert loss(x_adv) > loss(random_start)  # the signed-gradient step ascends the loss
  # one training step on the attacked batch changes every parameter tensor, and differs from a clean step
  tx = ctrain.make_optimizer(c, steps_per_epoch=1)
  init = ctrain.ClassifierState(step=np.int32(0), params=variables["params"],
                                batch_stats=variables["batch_stats"], opt_state=tx.init(variables["params"]),
                                rng=jax.random.key_data(jax.random.key(1)))
  batch = {"image": images[:8], "label": labels[:8]}
  adv_state, _ = jax.jit(functools.partial(ctrain.train_step, model=model, tx=tx, config=c))(init, batch)
  c.adversarial.enabled = False
  clean_state, _ = jax.jit(functools.partial(ctrain.train_step, model=model, tx=tx, config=c))(init, batch)
  moved = jax.tree_util.tree_map(lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()),
                                 adv_state.params, init.params)
  assert min(jax.tree_util.tree_leaves(moved)) > 0
  assert not np.allclose(adv_state.params["linear"]["kernel"], clean_state.params["linear"]["kernel"])


def test_a_run_whose_pgd_accuracy_collapses_stops_with_one_line_and_keeps_its_checkpoints(
    image_folder, tmp_path, monkeypatch):
  c = _config(image_folder)
  c.adversarial.method = "fgsm_rs"
  c.data.holdout, c.adversarial.guard_every = 3, 1
  c.train.num_epochs = 4  # 10 training images after the hold-out, batch 8: one step per epoch
  measured = iter([(0.6, 0.4), (0.7, 0.5), (0.9, 0.1), (0.9, 0.1)])  # a collapse at step 3
  monkeypatch.setattr(ctrain.pgd, "accuracy_with", lambda *args, **kw: next(measured, (0.5, 0.0)))  # then the final evaluation
  with pytest.raises(BiglogitError) as e:
    ctrain.train_classifier(c, str(tmp_path / "run"))
  assert str(e.value) == ("catastrophic overfitting at step 3: PGD accuracy on the 3 held-out images fell from "
                          "0.500 (step 2) to 0.100; stopped without saving this state; lower adversarial.eps or "
                          "adversarial.fgsm_step, or use adversarial.method=pgd")
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["2"]  # the collapsed state is not saved
  assert not (tmp_path / "run" / "classifier").exists()
  logged = [r for r in read_jsonl(str(tmp_path / "run" / "metrics.jsonl")) if "holdout_pgd_accuracy" in r]
  assert [(r["step"], r["holdout_pgd_accuracy"]) for r in logged] == [(1, 0.4), (2, 0.5)]
  # a standard run logs the same curve and never stops on it
  c.adversarial.enabled = False
  measured = iter([(0.6, 0.4), (0.7, 0.5), (0.9, 0.1), (0.9, 0.0)])
  monkeypatch.setattr(ctrain.pgd, "accuracy_with", lambda *args, **kw: next(measured, (0.5, 0.0)))  # then the final evaluation
  state, _ = ctrain.train_classifier(c, str(tmp_path / "standard"))
  assert int(state.step) == 4


def test_a_run_stopped_by_a_signal_writes_no_final_classifier(image_folder, tmp_path, monkeypatch):
  """SIGTERM ends the loop early after a checkpoint (training_loop.run returns the step it reached):
  the half-trained model is neither evaluated nor written as the run's classifier."""
  c = _config(image_folder)
  run = ctrain.training_loop.run
  monkeypatch.setattr(ctrain.training_loop, "run",
                      lambda loop, state: run(dataclasses.replace(loop, num_steps=1), state))
  _, results = ctrain.train_classifier(c, str(tmp_path / "run"))
  assert results == {"stopped": f"stopped at step 1 of 2 in {tmp_path / 'run'} (rerun the same command to resume)"}
  assert not (tmp_path / "run" / "classifier").exists()


def test_a_second_training_on_a_locked_workdir_is_refused_before_writing(image_folder, tmp_path):
  """Classifier training takes the inverters' workdir lock: a run already on the workdir is named and
  nothing is written (two processes would interleave their checkpoints)."""
  from biglogit.workdir_lock import LOCK_FILE, WorkdirLock
  with WorkdirLock(str(tmp_path)):
    with pytest.raises(BiglogitError, match=f"in use by a training on host .* pid {os.getpid()}"):
      ctrain.train_classifier(_config(image_folder), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [LOCK_FILE]
  assert not (tmp_path / LOCK_FILE).exists()
