"""Every release committed in pretrained/ loads on this CPU, whatever devices wrote it: the GPU-trained
ones were saved on an H200, and Orbax restores a checkpoint onto its writer's topology unless it is
given a target (biglogit/inverter.py restore_generator_on_this_host)."""
import glob
import json
import os

import jax
import numpy as np
import pytest

from biglogit.inverter import Inverter
from tests.conftest import REPO

RELEASES = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(REPO, "pretrained", "*", "*", "release.json")))
WRITTEN_ON_A_GPU = [r for r in RELEASES if "H200" in json.load(open(os.path.join(r, "release.json")))["hardware"]]


def test_there_are_releases_and_some_were_written_on_a_gpu():
  assert len(RELEASES) >= 4 and WRITTEN_ON_A_GPU, (RELEASES, WRITTEN_ON_A_GPU)


@pytest.mark.parametrize("release", RELEASES, ids=os.path.basename)
def test_each_release_loads_here_with_its_recorded_step(release):
  inverter = Inverter.load(release)
  info = json.load(open(os.path.join(release, "release.json")))
  assert inverter.step == info["step"]
  leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(inverter.params)]
  assert leaves and all(x.dtype == np.float32 and np.isfinite(x).all() for x in leaves)


def test_a_gpu_written_release_draws_images_on_this_cpu():
  inverter = Inverter.load(WRITTEN_ON_A_GPU[0])
  logits = np.zeros((2, inverter.config.model.num_classes), np.float32)
  images = inverter.reconstruct(logits, seed=0)
  assert images.shape == (2, 32, 32, 3) and np.isfinite(images).all() and images.std() > 0


@pytest.mark.parametrize("release", RELEASES, ids=os.path.basename)
def test_each_release_digests_every_field_of_its_json_files(release):
  """An edit of config.json or release.json is caught (and named) like damaged weights."""
  from biglogit import inverter
  saved = json.load(open(os.path.join(release, inverter.EXPORT_DIGEST)))
  for name in inverter.DIGESTED_JSON:
    assert any(k.startswith(name + ":") for k in saved), (release, name)
  assert saved == inverter.release_digests(release)


CLASSIFIERS = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(REPO, "pretrained", "*", "*", "classifier.json")))


@pytest.mark.parametrize("classifier", CLASSIFIERS, ids=os.path.basename)
def test_each_shipped_classifier_carries_a_digest_per_behaviour_field(classifier, tmp_path):
  import shutil
  from biglogit import BiglogitError
  from biglogit.classifiers import io as cio
  meta = json.load(open(os.path.join(classifier, "classifier.json")))
  assert set(meta["behaviour_sha256"]) == set(cio.BEHAVIOUR_KEYS) and meta["variables_sha256"]
  cio.verify(classifier)
  edited = tmp_path / "edited"
  shutil.copytree(classifier, edited)
  meta["input_resolution"] = 64  # would silently build a 64-px dataset
  (edited / "classifier.json").write_text(json.dumps(meta))
  with pytest.raises(BiglogitError, match="classifier.json was edited: input_resolution no longer matches"):
    cio.verify(str(edited))
