"""The learning check (slow): on a fixed 256-image CIFAR-10 subset with the robust ResNet-4B's logits,
the full-logit inverter must point back at its own training images far above chance (1/256) and
above the same model trained on the top-1 release (the label only). A generator that ignores its
conditioning, or a discriminator that ignores the logits, cannot pass: the label-only control gets
exactly the class information and nothing more.

Command-line equivalent: the docstring of configs/learning_check.py.
"""
import os

import numpy as np
import pytest

from tests.conftest import REPO, shared_path

# Not passed yet. The config's 8000 steps (D's inputs augmented), run from the command line with the
# same settings: feature retrieval top-1 0.070 [0.039, 0.102] vs 0.008 [0, 0.020] for the top1
# control, but pixel retrieval 0.023 [0.008, 0.043] vs 0.012 [0, 0.027] (chance 0.004; table in
# configs/learning_check.py). This test at 8000 steps was not timed: at the 4.8-5.6 steps/s the
# benchmark measures alone, two runs take about 50 minutes. (At the earlier 900 steps it took 15.5 min
# on the previous machine, pixel retrieval 0.016 vs 0.008.)
# strict: a pass must be noticed and this marker removed.
pytestmark = [pytest.mark.slow,
              # raises=AssertionError: a crash is a failure, only the unmet assertion is expected.
              pytest.mark.xfail(strict=True, raises=AssertionError,
                                reason="the CPU GAN does not yet retrieve its own training images far "
                                "above chance within a test's budget (configs/learning_check.py)")]

SUBSET = 256


def _subset_dataset(root):
  """The first 256 training images of the CIFAR-10 tarball (sorted-name order, all classes),
  their ResNet-4B logits, as a dataset whose train and test splits are both that subset."""
  from biglogit.data import dataset as dataset_lib
  from biglogit.data import sources
  from biglogit.evaluate import nets
  tarball = shared_path("data", "cifar10-jpeg", "cifar10_jpeg_q75.tar.gz")
  phi_dir = os.path.join(REPO, "pretrained", "cifar10", "resnet4b")
  records = []
  for rec in sources.open_source(tarball).records("train", 32, 32, sources.SkipLog()):
    records.append(rec)
    if len(records) == SUBSET:
      break
  images = np.stack([r.image for r in records])
  labels = np.array([r.label for r in records])
  logits = nets.Classifier(phi_dir, batch_size=128).logits(images.astype(np.float32) / 255.0)
  arrays = {"image": images, "logits": logits, "label": labels}
  return str(dataset_lib.write_numpy_dataset(root, "first256", {"train": arrays, "test": arrays},
                                             metadata={"classifier_dir": phi_dir}))


def _train(dataset, workdir, release_kind):
  from biglogit import train
  from configs import learning_check
  c = learning_check.get_config()
  c.data.dataset, c.data.data_dir = dataset, ""
  c.release.kind = release_kind
  c.eval.every, c.eval.at_end = 0, True
  c.eval.robust_features = os.path.join(REPO, "pretrained", "cifar10", "resnet2b")
  c.eval.baselines = ""
  c.checkpoint_every = c.image_every = c.train.num_steps
  train.train_and_evaluate(c, workdir)
  import json
  with open(os.path.join(workdir, "eval", "metrics.json")) as f:
    return json.load(f)["metrics"]


def test_full_logits_retrieve_their_own_images_above_chance_and_the_label_only_control(tmp_path):
  dataset = _subset_dataset(str(tmp_path))
  full = _train(dataset, str(tmp_path / "full"), "full")
  top1 = _train(dataset, str(tmp_path / "top1"), "top1")
  for name in ("retrieval_top1_pixel", "retrieval_top1_feature"):
    f, t = full[name], top1[name]
    print(name, "full", f, "top1", t)
    assert f["ci_low"] > 10 * f["chance"], name  # far above 1/256
    assert f["ci_low"] > t["ci_high"], name  # more than the class tells
