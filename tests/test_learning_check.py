"""The learning check (slow): on a fixed 256-image CIFAR-10 subset with the robust ResNet-4B's logits,
the full-logit inverter must point back at its own training images far above chance (1/256) and,
with the class factored out, above the same model trained on the top-1 release (the label only). A
generator that ignores its conditioning, or a discriminator that ignores the logits, cannot pass: the
label-only control gets exactly the class information and nothing more.

Command-line equivalent: the docstring of configs/learning_check.py.
"""
import json
import os

import numpy as np
import pytest

from tests.conftest import REPO, main_env, shared_path

# Asserted on feature-space retrieval, the independent robust ResNet-2B's penultimate features (the
# issue's space (b)): overall, far above chance (1/256); against the label-only control, where the class
# it knows is factored out: within class (the "among those of the same true class") and as
# instance gain. Overall the control itself retrieves at five to ten times chance, since knowing the
# class narrows 256 candidates to about 26. Pixel retrieval is printed, not asserted: at this budget
# it stays at 0.02-0.05 (lower bounds 0.008-0.027) in every configuration tried (configs/learning_check.py).
# Passes on the draw below (43 min 16 s on the 2-core Xeon, nothing else running), within class by a
# narrow margin; the figures of that draw and of two others are in configs/learning_check.py. Training
# is deterministic on one machine; another CPU's XLA code may move them a little.
pytestmark = pytest.mark.slow

SUBSET = 256
DEVICES = 4  # what biglogit.main picks by itself on a 2-core host (two per core)
# Seed 0 was the draw on which the within-class criterion was first seen; 1 is the fresh draw that
# confirmed it (the criterion committed before that run).
DRAW_SEED = 1


def _subset_dataset(root):
  """256 training images of the CIFAR-10 tarball drawn uniformly at random (a fixed seed), their
  ResNet-4B logits, as a dataset whose train and test splits are both that subset. Like the
  command's subset (the first 256 of the logits dataset, which tfds wrote shuffled) it spans the
  classes; the tarball's first 256 would be one class (its files are sorted by class)."""
  from biglogit.data import dataset as dataset_lib
  from biglogit import image_sources
  from biglogit.evaluate import nets
  tarball = shared_path("data", "cifar10-jpeg", "cifar10_jpeg_q75.tar.gz")
  phi_dir = os.path.join(REPO, "pretrained", "cifar10", "resnet4b")
  rng = np.random.default_rng(DRAW_SEED)
  records = []  # reservoir sampling: a uniform draw in one pass, whatever the split's length
  for seen, rec in enumerate(image_sources.open_source(tarball).records("train", 32, 32, image_sources.SkipLog())):
    if seen < SUBSET:
      records.append(rec)
    elif (slot := rng.integers(seen + 1)) < SUBSET:
      records[slot] = rec
  images = np.stack([r.image for r in records])
  labels = np.array([r.label for r in records])
  assert len(set(labels.tolist())) == 10, np.bincount(labels)
  logits = nets.Classifier(phi_dir, batch_size=128).logits(images.astype(np.float32) / 255.0)
  arrays = {"image": images, "logits": logits, "label": labels}
  return str(dataset_lib.write_numpy_dataset(root, "sample256", {"train": arrays, "test": arrays},
                                             metadata={"classifier_dir": phi_dir}))


def _launch(dataset, workdir, release_kind, log):
  """The config's training run through the real entry point, compiled as users' runs are, evaluated
  once at the end on the 256. (In this process, with the suite's 8 devices and opt-level-0 flags, one
  model alone trained at 3.3 steps/s, where a user's run does 5-6.)"""
  import subprocess
  import sys
  from configs import learning_check
  steps = learning_check.get_config().train.num_steps
  overrides = [f"--config.data.dataset={dataset}", "--config.data.data_dir=",
               f"--config.release.kind={release_kind}", "--config.eval.every=0", "--config.eval.at_end=True",
               "--config.eval.robust_features=" + os.path.join(REPO, "pretrained", "cifar10", "resnet2b"),
               "--config.eval.baselines=", f"--config.checkpoint_every={steps}", "--config.image_every=0"]
  cmd = [sys.executable, "-m", "biglogit.main", "--config=configs/learning_check.py", f"--workdir={workdir}",
         *overrides]
  return subprocess.Popen(cmd, cwd=REPO, env=main_env(DEVICES, test_xla_flags=False), stdout=log,
                          stderr=subprocess.STDOUT)


def _metrics(workdir):
  with open(os.path.join(workdir, "eval", "metrics.json")) as f:
    return json.load(f)["metrics"]


def test_full_logits_retrieve_their_own_images_above_chance_and_the_label_only_control(tmp_path):
  dataset = _subset_dataset(str(tmp_path))
  # Both at once, each on its share of the cores (43-45 min for the pair on 2 cores).
  runs = {}
  for kind in ("full", "top1"):
    log = open(tmp_path / f"{kind}.log", "w")
    runs[kind] = (_launch(dataset, str(tmp_path / kind), kind, log), log)
  for kind, (proc, log) in runs.items():
    code = proc.wait()
    log.close()
    if code != 0:
      raise RuntimeError(f"{kind} run failed (code {code}):\n" + (tmp_path / f"{kind}.log").read_text()[-3000:])
  full, top1 = _metrics(str(tmp_path / "full")), _metrics(str(tmp_path / "top1"))
  for name in ("retrieval_top1_pixel", "retrieval_top1_pixel_in_class", "retrieval_top1_feature",
               "retrieval_top1_feature_in_class", "instance_gain_db"):
    print(name, "full", full[name], "top1", top1[name])
  f = full["retrieval_top1_feature"]
  assert f["ci_low"] > 5 * f["chance"], (f, "not far above chance (1/256)")
  # Against the control, where its class knowledge is factored out: among the ~26 originals of the
  # same class, and as PSNR to the own original over the other same-class originals.
  for name in ("retrieval_top1_feature_in_class", "instance_gain_db"):
    f, t = full[name], top1[name]
    assert f["ci_low"] > t["ci_high"], (name, f, t, "no more than the label tells")
