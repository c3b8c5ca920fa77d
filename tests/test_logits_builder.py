"""Logits dataset builder on a generated image folder: corrupt and odd-sized files, idempotence,
interrupted builds, read-back without TensorFlow."""
import os
import sys

import jax
import numpy as np
import pytest

from biglogit import BiglogitError
from biglogit.classifiers import cifar_resnet
from biglogit.classifiers import io as cio
from biglogit.data import dataset as dataset_lib
from biglogit.data import logits_builder
from biglogit import image_sources


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("clf"))
  module = cifar_resnet.CifarResNet(depth=8)
  variables = module.init(jax.random.key(0), np.zeros((1, 32, 32, 3), np.float32))
  cio.save_classifier(d, variables, {"architecture": "cifar_resnet8", "num_classes": 10,
                                     "input_resolution": 32, "resize": 32, "mean": list(module.mean),
                                     "std": list(module.std), "source_sha256": "none"})
  return d


def test_builds_skips_corrupt_resizes_odd_and_reads_back_without_tf(image_folder, classifier_dir, tmp_path):
  path = logits_builder.build_logits_dataset(image_folder, classifier_dir, str(tmp_path), name="toy")
  source, builder = dataset_lib.open_split(str(path), "train")
  assert len(source) == 13  # 12 + the odd-sized one; the corrupt file is skipped
  meta = builder.info.metadata
  assert meta["skipped_train"] == 1 and meta["skipped_files_train"] == ["train/cat/corrupt.png"]
  assert meta["classifier"]["architecture"] == "cifar_resnet8"
  ex = source[0]
  assert ex["image"].shape == (32, 32, 3) and ex["logits"].shape == (10,)
  assert set(ex) == {"image", "logits", "label", "prediction", "index"}
  assert sorted(int(source[i]["index"]) for i in range(len(source))) == list(range(13))
  # logits and prediction are the classifier's on the stored image; accuracy matches the labels
  module, variables, _ = cio.load_classifier(classifier_dir)
  imgs = np.stack([source[i]["image"] for i in range(len(source))]).astype(np.float32) / 255
  logits = np.asarray(module.apply(variables, imgs))
  np.testing.assert_allclose(np.stack([source[i]["logits"] for i in range(len(source))]), logits, atol=1e-4)
  # 2 class folders, 10 logits: the labels are not the classifier's classes, so no accuracy
  assert meta["accuracy_train"] is None
  assert "tensorflow" not in sys.modules


def test_accuracy_is_recorded_where_the_labels_are_the_classifiers_classes(classifier_dir, tmp_path):
  from PIL import Image
  rng = np.random.default_rng(0)
  for c in range(10):  # as many class folders as the classifier has logits
    os.makedirs(tmp_path / "src" / "train" / f"class{c}")
    for i in range(2):
      Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
          tmp_path / "src" / "train" / f"class{c}" / f"{i}.png")
  path = logits_builder.build_logits_dataset(str(tmp_path / "src"), classifier_dir, str(tmp_path / "d"), name="ten")
  source, builder = dataset_lib.open_split(str(path), "train")
  predictions = np.asarray([source[i]["prediction"] for i in range(len(source))])
  labels = np.asarray([source[i]["label"] for i in range(len(source))])
  assert builder.info.metadata["accuracy_train"] == pytest.approx(float(np.mean(predictions == labels)))


def test_rerun_does_nothing(image_folder, classifier_dir, tmp_path):
  path = logits_builder.build_logits_dataset(image_folder, classifier_dir, str(tmp_path), name="toy")
  stamp = {f: os.path.getmtime(os.path.join(path, f)) for f in os.listdir(path)}
  again = logits_builder.build_logits_dataset(image_folder, classifier_dir, str(tmp_path), name="toy")
  assert os.fspath(again) == os.fspath(path)
  assert {f: os.path.getmtime(os.path.join(path, f)) for f in os.listdir(path)} == stamp


def test_interrupted_build_never_reads_as_complete(image_folder, classifier_dir, tmp_path, monkeypatch):
  calls = {"n": 0}
  real = logits_builder.LogitsComputer.__call__

  def dying(self, images):
    calls["n"] += 1
    if calls["n"] == 2:  # the second split's batch: the first split is already written
      raise KeyboardInterrupt("simulated kill")
    return real(self, images)

  monkeypatch.setattr(logits_builder.LogitsComputer, "__call__", dying)
  with pytest.raises(KeyboardInterrupt):
    logits_builder.build_logits_dataset(image_folder, classifier_dir, str(tmp_path), name="toy")
  assert not dataset_lib.is_complete(str(tmp_path), "toy")
  assert os.listdir(tmp_path) == []  # nothing half-built is left to block or confuse the rerun
  with pytest.raises(Exception, match="no finished logits dataset"):
    dataset_lib.open_split("toy", "train", str(tmp_path))
  monkeypatch.setattr(logits_builder.LogitsComputer, "__call__", real)
  path = logits_builder.build_logits_dataset(image_folder, classifier_dir, str(tmp_path), name="toy")
  assert len(dataset_lib.open_split(str(path), "test")[0]) == 6


def test_tfds_source_by_name():
  """A TFDS dataset by name, read through its data source with the input policy applied. TFDS's mock
  stands in for the download (it also mocks every builder's download_and_prepare, so the builder
  itself is exercised with the folder source above)."""
  import tensorflow_datasets as tfds
  from biglogit import image_sources
  with tfds.testing.mock_data(num_examples=5, policy=tfds.testing.MockPolicy.USE_CODE):
    source = image_sources.open_source("tfds:cifar10")
    assert source.count("train") == 5 and len(source.class_names("train")) == 10
    skips = image_sources.SkipLog()
    records = list(source.records("train", 24, 28, skips))
  assert len(records) == 5 and not skips.skipped
  assert all(r.image.shape == (24, 24, 3) and 0 <= r.label < 10 for r in records)
  assert records[0].name == "cifar10[train][0]"


def test_max_per_class_keeps_the_first_files_of_every_class_per_split(image_folder):
  """train:2,test:1 -> the first 2 (by name) of each class in train, 1 in test; every class kept."""
  source = image_sources.open_source(image_folder, max_per_class=image_sources.parse_max_per_class("train:2,test:1"))
  assert source.count("train") == 4 and source.count("test") == 2
  names = [r.name for r in source.records("train", 32, 32, image_sources.SkipLog())]
  assert sorted(names) == ["train/cat/0.png", "train/cat/1.png", "train/dog/0.png", "train/dog/1.png"]
  every_split = image_sources.open_source(image_folder, max_per_class=image_sources.parse_max_per_class("1"))
  assert every_split.count("train") == 2 and every_split.count("test") == 2


@pytest.mark.parametrize("spec,message", [
    ("train:0", "max_per_class item 'train:0': use N or split:N with N >= 1"),
    ("train:many", "max_per_class item 'train:many'"),
    ("val:3", "max_per_class names split 'val'; .* has \\['test', 'train'\\]"),
])
def test_max_per_class_refuses_what_it_cannot_mean(image_folder, spec, message):
  with pytest.raises(BiglogitError, match=message):
    image_sources.open_source(image_folder, max_per_class=image_sources.parse_max_per_class(spec))


def test_a_split_that_lacks_a_class_keeps_every_label(classifier_dir, tmp_path):
  """Labels are the sorted class folders over every split: a test split without 'dog' neither fails
  nor renumbers the train split's classes."""
  from PIL import Image
  rng = np.random.default_rng(0)
  for split, classes in (("train", ("cat", "dog")), ("test", ("cat",))):
    for c in classes:
      os.makedirs(tmp_path / "src" / split / c)
      for i in range(2):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "src" / split / c / f"{i}.png")
  path = logits_builder.build_logits_dataset(str(tmp_path / "src"), classifier_dir, str(tmp_path / "d"), name="gap",
                                          splits=["test", "train"])
  labels = {split: sorted(int(r["label"]) for r in (lambda s: [s[i] for i in range(len(s))])(
      dataset_lib.open_split(str(path), split)[0])) for split in ("train", "test")}
  assert labels == {"train": [0, 0, 1, 1], "test": [0, 0]}
