"""build_logits_dataset: the logits dataset of the data contract (biglogit/data/dataset.py) for each
split of an image source, through a classifier (the library behind `python -m biglogit.data.make_logits`).

SRC is a folder or .tar.gz in split/<class>/<file> layout, or tfds:NAME. Logits are computed in
batches on all local devices (jit, batch sharded over a mesh) with a progress bar. Re-running finds
the finished dataset and does nothing; an interrupted run leaves only TFDS's `incomplete.*` folder,
which never reads as a dataset. Unreadable images are counted, listed and skipped.
"""
import os
import shutil
from typing import Iterable, List, Optional

import jax
import numpy as np
from absl import logging
from etils import epath
from tqdm import tqdm

from biglogit import BiglogitError
from biglogit import files, sharding
from biglogit import limits
from biglogit.classifiers import io as cio
from biglogit.data import dataset as dataset_lib
from biglogit import image_sources

MAX_LISTED_SKIPS = 100
CLASS_INDEXES = ("folder", "imagenet1k")


class LogitsComputer:
  """Batched classifier logits, sharded over all local devices."""

  def __init__(self, module, variables, batch_size: int):
    self.mesh = sharding.make_mesh(jax.local_devices())
    n = self.mesh.devices.size
    self.batch_size = -(-batch_size // n) * n  # round up to a multiple of the device count
    shard = sharding.batch_sharding(self.mesh)
    self._apply = jax.jit(lambda v, x: module.apply(v, x, train=False), in_shardings=(None, shard))
    self.variables = variables

  def __call__(self, images_uint8: np.ndarray) -> np.ndarray:
    n = len(images_uint8)
    x = images_uint8.astype(np.float32) / 255.0
    if n < self.batch_size:  # fixed shape: one compile
      x = np.concatenate([x, np.zeros((self.batch_size - n,) + x.shape[1:], x.dtype)])
    return np.asarray(self._apply(self.variables, x))[:n]


def _chunks(records: Iterable, size: int):
  chunk = []
  for r in records:
    chunk.append(r)
    if len(chunk) == size:
      yield chunk
      chunk = []
  if chunk:
    yield chunk


def _resize(images: np.ndarray, resolution: int) -> np.ndarray:
  if images.shape[1] == resolution:
    return images
  from PIL import Image
  return np.stack([np.asarray(Image.fromarray(im).resize((resolution, resolution), Image.BICUBIC))
                   for im in images])


def _check_same_dataset(path, wanted):
  """An existing dataset of this name is reused only if it was built from the same classifier, source,
  limits and splits; otherwise one line says how they differ (the old data is kept)."""
  import json
  import tensorflow_datasets as tfds
  metadata_file = path / "metadata.json"
  stored = json.loads(metadata_file.read_text()) if metadata_file.exists() else {}
  classifier = stored.get("classifier") or {}
  found = {"classifier": classifier.get("variables_sha256") or classifier.get("source_sha256"),
           "source": stored.get("source"), "holdout_per_class": stored.get("holdout_per_class", 0),
           "class_index": stored.get("class_index", "folder"), "max_per_class": stored.get("max_per_class"),
           "stored_resolution": stored.get("stored_resolution"),
           "splits": sorted(tfds.builder_from_directory(os.fspath(path)).info.splits)}
  # a source by its file name: the same tarball spelled as another relative or absolute path is the same
  source_name = lambda s: s if str(s).startswith("tfds:") else os.path.basename(str(s).rstrip("/"))
  found["source"], wanted = source_name(found["source"]), {**wanted, "source": source_name(wanted["source"])}
  differ = [k for k in wanted if found.get(k) != wanted[k]]
  if differ:
    k = differ[0]
    raise BiglogitError(f"dataset {path} already exists but was built with another {k} ({found.get(k)!r}, "
                        f"this command asks for {wanted[k]!r}); pick another --name, or remove that folder "
                        "to rebuild it")


def build_logits_dataset(source_spec: str, classifier_dir: str, data_dir: str, name: Optional[str] = None,
                         splits: Optional[List[str]] = None, batch_size: int = 256,
                         store_resolution: Optional[int] = None, tfds_data_dir: Optional[str] = None,
                         holdout_per_class: int = 0, class_index: str = "folder", max_per_class=""):
  """Returns the finished dataset folder (building it unless it is already complete).

  class_index: "folder" labels images by their sorted class folders (or the TFDS label);
  "imagenet1k" by the ImageNet-1k index of their class folder's wnid.
  max_per_class: "N" or "split:N,..." (first N files of each class), e.g. a subset small enough
  for a slow classifier on this CPU.
  """
  _check_arguments(class_index, store_resolution, batch_size, data_dir)
  limits = image_sources.parse_max_per_class(max_per_class)
  module, variables, meta = cio.load_classifier(classifier_dir)
  source = image_sources.open_source(source_spec, tfds_data_dir, holdout_per_class, limits)
  splits = list(splits or source.splits)
  name = _dataset_name(source_spec, name, meta)
  store_res = store_resolution or meta["input_resolution"]
  identity = {"classifier": meta.get("variables_sha256") or meta.get("source_sha256"), "source": source_spec,
              "holdout_per_class": holdout_per_class, "class_index": class_index,
              "max_per_class": limits, "stored_resolution": store_res, "splits": sorted(splits)}
  if dataset_lib.is_complete(data_dir, name):
    path = dataset_lib.dataset_dir(data_dir, name)
    _check_same_dataset(path, identity)
    logging.info("dataset %s is already complete; nothing to do", path)
    return path
  class_names = _class_names(source, splits, class_index)
  # Top-1 accuracy means something only where the labels are the classifier's classes (not for
  # CIFAR-10 through an ImageNet classifier): otherwise it is recorded as None, not as 0.
  labels_are_classes = len(class_names) == meta["num_classes"]
  if not labels_are_classes:
    logging.warning("source has %d classes, classifier %d logits: no accuracy is recorded",
                    len(class_names), meta["num_classes"])
  metadata = {
      "classifier": {k: meta.get(k) for k in ("architecture", "num_classes", "input_resolution", "resize",
                                              "mean", "std", "source_sha256", "variables_sha256")},
      "classifier_dir": os.path.abspath(classifier_dir),
      "source": source_spec, "stored_resolution": store_res,
      "holdout_per_class": holdout_per_class, "class_index": class_index, "max_per_class": limits,
  }
  examples = _Examples(source, LogitsComputer(module, variables, batch_size), meta, class_names, store_res,
                       labels_are_classes, classifier_dir)
  config = dataset_lib.LogitsConfig(name=name, num_classes=meta["num_classes"], resolution=store_res,
                                    class_names=tuple(class_names) if labels_are_classes else None)
  return _write(config, examples, splits, metadata, data_dir)


def _check_arguments(class_index, store_resolution, batch_size, data_dir):
  if class_index not in CLASS_INDEXES:
    raise BiglogitError(f"class_index={class_index!r}; use one of {CLASS_INDEXES}")
  if store_resolution is not None and not 8 <= store_resolution <= limits.MAX_RESOLUTION:
    raise BiglogitError(f"store_resolution={store_resolution}; use 8 to {limits.MAX_RESOLUTION} pixels, or None for "
                        "the classifier's input size")
  if not 1 <= batch_size <= limits.MAX_BATCH:
    raise BiglogitError(f"batch_size={batch_size}; use 1 to {limits.MAX_BATCH}")
  if not files.is_remote(data_dir):
    files.check_can_create(data_dir, "--data_dir")


def _dataset_name(source_spec: str, name: Optional[str], meta) -> str:
  """--name, else the source's base name and the classifier's architecture."""
  base = os.path.basename(source_spec.rstrip("/")).split(".")[0] if not source_spec.startswith("tfds:") \
      else source_spec[5:].replace("/", "_").replace(":", "_")
  name = name or f"{base}_{meta['architecture']}"
  if not name or name in (".", "..") or "/" in name or os.sep in name or name.startswith("."):
    raise BiglogitError(f"--name={name!r}; use a plain folder name (no '/', not starting with '.'): the "
                        "dataset goes to DATA_DIR/logits_dataset/NAME")
  return name


def _class_names(source, splits, class_index: str):
  """One label per class over every split: a split may lack a class (a small test split), never renumber."""
  per_split = [source.class_names(split) for split in splits]
  class_names = per_split[0] if all(p == per_split[0] for p in per_split) else sorted(set().union(*per_split))
  return image_sources.imagenet1k_class_index(class_names) if class_index == "imagenet1k" else class_names


class _Examples:
  """The examples of one split for TFDS's builder (example_fn): each image through the classifier, stored
  at the dataset's resolution; the split's accuracy and skipped files go into `self.metadata`, the
  metadata.json TFDS writes when it finalises the dataset (set once the builder exists)."""

  def __init__(self, source, computer, meta, class_names, store_res, labels_are_classes, classifier_dir):
    self.source, self.computer, self.class_names = source, computer, class_names
    self.res, self.resize, self.store_res = meta["input_resolution"], meta["resize"], store_res
    self.labels_are_classes, self.classifier_dir = labels_are_classes, classifier_dir
    self.metadata = None

  def __call__(self, split):
    skips = image_sources.SkipLog()
    correct = index = 0
    bar = tqdm(total=self.source.count(split), desc=f"logits {split}", unit="img")
    records = self.source.records(split, self.res, self.resize, skips, self.class_names)
    for chunk in _chunks(records, self.computer.batch_size):
      images = np.stack([r.image for r in chunk])
      logits = self._finite_logits(images, split, index)
      for r, im, z in zip(chunk, _resize(images, self.store_res), logits):
        pred = int(np.argmax(z))
        correct += pred == r.label
        yield {"image": im, "logits": z.astype(np.float32), "label": r.label, "prediction": pred, "index": index}
        index += 1
      bar.update(len(chunk))
    bar.close()
    if skips.skipped:
      logging.warning("%s: skipped %d unreadable images: %s", split, len(skips.skipped),
                      ", ".join(n for n, _ in skips.skipped[:10]))
    self.metadata[f"accuracy_{split}"] = correct / max(index, 1) if self.labels_are_classes else None
    self.metadata[f"num_examples_{split}"] = index
    self.metadata[f"skipped_{split}"] = len(skips.skipped)
    self.metadata[f"skipped_files_{split}"] = [n for n, _ in skips.skipped[:MAX_LISTED_SKIPS]]

  def _finite_logits(self, images, split, first_index):
    logits = self.computer(images)
    bad = ~np.isfinite(logits).all(axis=-1)
    if bad.any():  # refused, not skipped: non-finite logits mean broken weights, not one bad photo
      raise BiglogitError(f"the classifier in {self.classifier_dir} gave non-finite logits for {int(bad.sum())} "
                          f"image(s) of split {split!r} (first: example {first_index + int(np.argmax(bad))}); "
                          "check its weights (reconvert with python -m biglogit.convert)")
    return logits


def _write(config, examples: _Examples, splits, metadata, data_dir: str):
  """Builds the dataset with TFDS; on any failure removes what this build created (its incomplete
  folder, and folders it made that hold nothing), so that a rerun starts from nothing half-built."""
  folder = dataset_lib.dataset_dir(data_dir, config.name).parent
  new_dirs = [d for d in (epath.Path(data_dir), epath.Path(data_dir) / "downloads", folder.parent, folder)
              if not d.exists()]  # TFDS makes these when the builder is made
  builder = dataset_lib.LogitsDataset(config=config, example_fn=examples, splits=splits,
                                      metadata=metadata, data_dir=data_dir, file_format="array_record")
  examples.metadata = builder.info.metadata
  try:
    builder.download_and_prepare()
  except BaseException as e:
    for unfinished in folder.glob(f"incomplete.*{dataset_lib.VERSION}"):  # this build's own, never read
      shutil.rmtree(os.fspath(unfinished), ignore_errors=True)
    for d in reversed(new_dirs):  # only folders that hold nothing but empty folders (TFDS's downloads/extracted)
      if d.exists():
        for root, _, names in sorted(os.walk(os.fspath(d)), reverse=True):
          if not names and not os.listdir(root):
            os.rmdir(root)
    if not isinstance(e, Exception) or not files.disk_full(e):
      raise
    raise BiglogitError(f"building the logits dataset {config.name} in {data_dir} failed: no space left on the "
                        "device (nothing of it was kept; other datasets there are intact); free space and "
                        "run the command again") from e
  return dataset_lib.dataset_dir(data_dir, config.name)
