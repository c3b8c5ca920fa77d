"""python -m biglogit.data.make_logits --source=SRC --classifier=DIR --data_dir=DIR [--name=NAME]

Builds the logits dataset of the data contract (biglogit/data/dataset.py) for each split of SRC:
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
from absl import flags, logging
from etils import epath
from tqdm import tqdm

from biglogit import BiglogitError
from biglogit import files, host, sharding
from biglogit import cli
from biglogit.classifiers import io as cio
from biglogit.data import dataset as dataset_lib
from biglogit.data import sources

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
  if class_index not in CLASS_INDEXES:
    raise BiglogitError(f"class_index={class_index!r}; use one of {CLASS_INDEXES}")
  if store_resolution is not None and not 8 <= store_resolution <= cli.MAX_RESOLUTION:
    raise BiglogitError(f"store_resolution={store_resolution}; use 8 to {cli.MAX_RESOLUTION} pixels, or None for "
                        "the classifier's input size")
  if not 1 <= batch_size <= cli.MAX_BATCH:
    raise BiglogitError(f"batch_size={batch_size}; use 1 to {cli.MAX_BATCH}")
  if not files.is_remote(data_dir):
    files.check_can_create(data_dir, "--data_dir")
  limits = sources.parse_max_per_class(max_per_class)
  module, variables, meta = cio.load_classifier(classifier_dir)
  source = sources.open_source(source_spec, tfds_data_dir, holdout_per_class, limits)
  splits = list(splits or source.splits)
  base = os.path.basename(source_spec.rstrip("/")).split(".")[0] if not source_spec.startswith("tfds:") \
      else source_spec[5:].replace("/", "_").replace(":", "_")
  name = name or f"{base}_{meta['architecture']}"
  if not name or name in (".", "..") or "/" in name or os.sep in name or name.startswith("."):
    raise BiglogitError(f"--name={name!r}; use a plain folder name (no '/', not starting with '.'): the "
                        "dataset goes to DATA_DIR/logits_dataset/NAME")
  identity = {"classifier": meta.get("variables_sha256") or meta.get("source_sha256"), "source": source_spec,
              "holdout_per_class": holdout_per_class, "class_index": class_index,
              "max_per_class": limits, "stored_resolution": store_resolution or meta["input_resolution"],
              "splits": sorted(splits)}
  if dataset_lib.is_complete(data_dir, name):
    path = dataset_lib.dataset_dir(data_dir, name)
    _check_same_dataset(path, identity)
    logging.info("dataset %s is already complete; nothing to do", path)
    return path
  # one label per class over every split: a split may lack a class (a small test split), never renumber
  per_split = [source.class_names(split) for split in splits]
  class_names = per_split[0] if all(p == per_split[0] for p in per_split) else sorted(set().union(*per_split))
  if class_index == "imagenet1k":
    class_names = sources.imagenet1k_class_index(class_names)
  # Top-1 accuracy means something only where the labels are the classifier's classes (not for
  # CIFAR-10 through an ImageNet classifier): otherwise it is recorded as None, not as 0.
  labels_are_classes = len(class_names) == meta["num_classes"]
  if not labels_are_classes:
    logging.warning("source has %d classes, classifier %d logits: no accuracy is recorded",
                    len(class_names), meta["num_classes"])
  res, resize = meta["input_resolution"], meta["resize"]
  store_res = store_resolution or res
  computer = LogitsComputer(module, variables, batch_size)
  metadata = {
      "classifier": {k: meta.get(k) for k in ("architecture", "num_classes", "input_resolution", "resize",
                                              "mean", "std", "source_sha256", "variables_sha256")},
      "classifier_dir": os.path.abspath(classifier_dir),
      "source": source_spec, "stored_resolution": store_res,
      "holdout_per_class": holdout_per_class, "class_index": class_index, "max_per_class": limits,
  }

  def example_fn(split):
    skips = sources.SkipLog()
    correct = total = 0
    bar = tqdm(total=source.count(split), desc=f"logits {split}", unit="img")
    index = 0
    for chunk in _chunks(source.records(split, res, resize, skips, class_names), computer.batch_size):
      images = np.stack([r.image for r in chunk])
      logits = computer(images)
      bad = ~np.isfinite(logits).all(axis=-1)
      if bad.any():  # refused, not skipped: non-finite logits mean broken weights, not one bad photo
        raise BiglogitError(f"the classifier in {classifier_dir} gave non-finite logits for {int(bad.sum())} "
                            f"image(s) of split {split!r} (first: example {index + int(np.argmax(bad))}); "
                            "check its weights (reconvert with python -m biglogit.convert)")
      stored = _resize(images, store_res)
      for r, im, z in zip(chunk, stored, logits):
        pred = int(np.argmax(z))
        correct += pred == r.label
        total += 1
        yield {"image": im, "logits": z.astype(np.float32), "label": r.label, "prediction": pred,
               "index": index}
        index += 1
      bar.update(len(chunk))
    bar.close()
    if skips.skipped:
      logging.warning("%s: skipped %d unreadable images: %s", split, len(skips.skipped),
                      ", ".join(n for n, _ in skips.skipped[:10]))
    # Written into the same metadata.json TFDS saves when it finalises the dataset.
    builder.info.metadata[f"accuracy_{split}"] = correct / max(total, 1) if labels_are_classes else None
    builder.info.metadata[f"num_examples_{split}"] = total
    builder.info.metadata[f"skipped_{split}"] = len(skips.skipped)
    builder.info.metadata[f"skipped_files_{split}"] = [n for n, _ in skips.skipped[:MAX_LISTED_SKIPS]]

  folder = dataset_lib.dataset_dir(data_dir, name).parent
  # what this build creates (TFDS makes the folders when the builder is made), removed again if it
  # fails: a rerun then starts from nothing half-built
  new_dirs = [d for d in (epath.Path(data_dir), epath.Path(data_dir) / "downloads", folder.parent, folder)
              if not d.exists()]
  config = dataset_lib.LogitsConfig(name=name, num_classes=meta["num_classes"], resolution=store_res,
                                    class_names=tuple(class_names)
                                    if len(class_names) == meta["num_classes"] else None)
  builder = dataset_lib.LogitsDataset(config=config, example_fn=example_fn, splits=splits,
                                      metadata=metadata, data_dir=data_dir, file_format="array_record")
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
    raise BiglogitError(f"building the logits dataset {name} in {data_dir} failed: no space left on the "
                        "device (nothing of it was kept; other datasets there are intact); free space and "
                        "run the command again") from e
  return dataset_lib.dataset_dir(data_dir, name)


FLAGS = flags.FLAGS


def main(argv):
  del argv
  # two XLA devices per core, the batch sharded over them: EfficientNet-Lite0 ran 5.1 -> 10.1
  # images/s on this 2-core CPU (1 vs 4 devices)
  host.use_every_cpu_core(FLAGS.batch_size)
  path = build_logits_dataset(
      FLAGS.source, FLAGS.classifier, FLAGS.data_dir, FLAGS.name, FLAGS.splits, FLAGS.batch_size,
      FLAGS.store_resolution, FLAGS.tfds_data_dir, FLAGS.holdout_per_class, FLAGS.class_index,
      FLAGS.max_per_class)
  import tensorflow_datasets as tfds
  b = tfds.builder_from_directory(os.fspath(path))
  for split in b.info.splits:
    accuracy = b.info.metadata.get(f"accuracy_{split}")
    accuracy = "n/a (labels are not the classifier's classes)" if accuracy is None else f"{accuracy:.4f}"
    print(f"{path} [{split}] {b.info.splits[split].num_examples} examples, accuracy {accuracy}, "
          f"skipped {b.info.metadata.get(f'skipped_{split}', 0)}")


if __name__ == "__main__":
  # Flags live here so that the trainer can import build_logits_dataset without inheriting them.
  flags.DEFINE_string("source", None, "Folder / .tar.gz in split/<class>/<file> layout, or tfds:NAME.")
  flags.DEFINE_string("classifier", None, "Classifier directory (from biglogit.convert or classifier training).")
  flags.DEFINE_string("data_dir", None, "Where the logits dataset is written.")
  flags.DEFINE_string("name", None, "Dataset name (default: <source>_<architecture>).")
  flags.DEFINE_list("splits", None, "Splits to build (default: all of the source's).")
  flags.DEFINE_integer("batch_size", 256, "Images per classifier batch (rounded up to the device count).",
                       lower_bound=1, upper_bound=cli.MAX_BATCH)
  flags.DEFINE_integer("store_resolution", None, "Resolution of the stored images (default: the classifier's).",
                       lower_bound=8, upper_bound=cli.MAX_RESOLUTION)
  flags.DEFINE_string("tfds_data_dir", None, "data_dir of a tfds: source.")
  flags.DEFINE_integer("holdout_per_class", 0, "Split a one-split folder source: hold out the last N files "
                       "of each class (by name) as 'test', the rest is 'train'.",
                       lower_bound=0, upper_bound=cli.MAX_EXAMPLES)
  flags.DEFINE_list("max_per_class", [], "Keep the first N files (by name) of each class: N for every "
                    "split, or split:N items, e.g. train:500,test:100 (folder / tarball sources).")
  flags.DEFINE_enum("class_index", "folder", list(CLASS_INDEXES), "Labels: the sorted class folders, or "
                    "the ImageNet-1k index of each class folder's wnid (imagenet1k).")
  flags.mark_flags_as_required(["source", "classifier", "data_dir"])
  cli.run(main)
