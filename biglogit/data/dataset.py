"""The logits dataset: the contract between the logits builder and GAN training.

A TFDS dataset in array_record format, one example per image:
  image (PNG, HxWx3 uint8, as the classifier saw it), logits float32[nc], label, prediction, index.
Written by a GeneratorBasedBuilder (so TFDS's own download_and_prepare does the atomic write:
everything goes to an `incomplete.*` folder that is renamed only when all splits are done, so an
interrupted build never reads as complete). Read back with `as_data_source`, no TensorFlow needed.
"""
import dataclasses
import io
import os
from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np
from etils import epath
from PIL import Image

from biglogit import BiglogitError
from biglogit.data import conditioning

import tensorflow_datasets as tfds  # after numpy/PIL: its import is the slow one

DATASET_NAME = "logits_dataset"
VERSION = "1.0.0"

Example = Dict[str, object]


@dataclasses.dataclass(eq=False)
class LogitsConfig(tfds.core.BuilderConfig):
  """One logits dataset = one (source, classifier) pair; its name is the dataset's folder name."""
  num_classes: int = 10
  resolution: int = 32
  class_names: Optional[Tuple[str, ...]] = None


def png_bytes(image: np.ndarray) -> bytes:
  """tfds.features.Image encodes numpy arrays with TensorFlow; PNG bytes keep TF out."""
  buf = io.BytesIO()
  Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
  return buf.getvalue()


class LogitsDataset(tfds.core.GeneratorBasedBuilder):
  """Builder whose examples come from `example_fn(split) -> iterable of examples` (numpy values)."""

  VERSION = tfds.core.Version(VERSION)
  # Nothing is downloaded; this also keeps TFDS from resolving the builder's code path through
  # importlib_resources, which the GPU hosts lack.
  url_infos = {}

  def __init__(self, *, config: LogitsConfig, example_fn: Callable[[str], Iterable[Example]] = None,
               splits: Sequence[str] = (), metadata: Mapping = None, **kwargs):
    self._example_fn = example_fn
    self._splits = tuple(splits)
    self._metadata = dict(metadata or {})
    super().__init__(config=config, **kwargs)

  def _info(self):
    c = self.builder_config
    label = (tfds.features.ClassLabel(names=list(c.class_names)) if c.class_names
             else tfds.features.ClassLabel(num_classes=c.num_classes))
    info = tfds.core.DatasetInfo(
        builder=self,
        description="Images with a frozen classifier's logits (biglogit data contract).",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(c.resolution, c.resolution, 3), encoding_format="png"),
            "logits": tfds.features.Tensor(shape=(c.num_classes,), dtype=np.float32),
            "label": label,
            "prediction": np.int64,
            "index": np.int64,
        }),
        metadata=tfds.core.MetadataDict(self._metadata),
    )
    # A dataset of our own has no precomputed info on TFDS's bucket; the lookup would only leave an
    # empty temporary folder behind (in /tmp, one per dataset built) and, online, ask the network.
    info.initialize_from_bucket = lambda: None
    return info

  def _split_generators(self, dl_manager):
    if self._example_fn is None:
      raise BiglogitError(f"dataset {self.builder_config.name} is not built and this builder has no "
                          "example source; build it with python -m biglogit.data.make_logits")
    return {split: self._generate_examples(split) for split in self._splits}

  def _generate_examples(self, split):
    # The training split's logit statistics (data/conditioning.py) go into the metadata, computed once
    # here from the logits as they are written.
    stats_split = "train" if "train" in self._splits else self._splits[0]
    logits = []
    for ex in self._example_fn(split):
      ex = dict(ex)
      if isinstance(ex["image"], np.ndarray):
        ex["image"] = png_bytes(ex["image"])
      if split == stats_split:
        logits.append(np.asarray(ex["logits"], np.float32))
      yield int(ex["index"]), ex
    if split == stats_split and logits:
      self.info.metadata[conditioning.METADATA_KEY] = conditioning.dataset_stats(np.stack(logits), split)


def dataset_dir(data_dir: str, name: str) -> epath.Path:
  return epath.Path(data_dir) / DATASET_NAME / name / VERSION


def is_complete(data_dir: str, name: str) -> bool:
  return (dataset_dir(data_dir, name) / "dataset_info.json").exists()


def write_numpy_dataset(data_dir: str, name: str, splits: Mapping[str, Mapping[str, np.ndarray]],
                        metadata: Mapping = None, class_names: Sequence[str] = None,
                        allow_non_finite: bool = False) -> epath.Path:
  """Write a logits dataset from numpy arrays: splits = {split: {image, logits, label[, prediction]}}.

  Tests use it to make fixtures; anything that already holds images and logits in memory can too.
  Non-finite logits are refused (allow_non_finite=True only to make a broken fixture on purpose).
  """
  for split, arrays in splits.items():
    bad = ~np.isfinite(np.asarray(arrays["logits"], np.float32)).all(axis=-1)
    if bad.any() and not allow_non_finite:
      raise BiglogitError(f"split {split!r} has non-finite logits in {int(bad.sum())} row(s) (first: row "
                          f"{int(np.argmax(bad))}); drop or fix those rows before writing the dataset")
  first = next(iter(splits.values()))
  num_classes = int(np.asarray(first["logits"]).shape[-1])
  resolution = int(np.asarray(first["image"]).shape[1])

  def example_fn(split):
    arrays = splits[split]
    logits = np.asarray(arrays["logits"], np.float32)
    predictions = arrays.get("prediction", logits.argmax(-1))
    for i in range(len(logits)):
      yield {"image": np.asarray(arrays["image"][i], np.uint8), "logits": logits[i],
             "label": int(arrays["label"][i]), "prediction": int(predictions[i]), "index": i}

  config = LogitsConfig(name=name, num_classes=num_classes, resolution=resolution,
                        class_names=tuple(class_names) if class_names else None)
  builder = LogitsDataset(config=config, example_fn=example_fn, splits=list(splits),
                          metadata=metadata, data_dir=data_dir, file_format="array_record")
  builder.download_and_prepare()
  return epath.Path(builder.data_dir)


def resolve_dataset_dir(dataset: str, data_dir: str = "") -> epath.Path:
  """`dataset` is a built dataset's folder (…/logits_dataset/NAME/1.0.0), or NAME under data_dir."""
  candidates = [epath.Path(dataset)]
  if data_dir:
    candidates += [dataset_dir(data_dir, dataset), epath.Path(data_dir) / dataset]
  for path in candidates:
    if (path / "dataset_info.json").exists():
      return path
  for path in candidates:  # TFDS builds into NAME/incomplete.XXXX_1.0.0 and renames when done
    if path.parent.exists() and any(path.parent.glob(f"incomplete.*{VERSION}")):
      raise BiglogitError(
          f"the logits dataset {dataset!r} was interrupted while being built (an incomplete.* folder "
          f"is in {path.parent}); rerun python -m biglogit.data.make_logits to build it again")
  raise BiglogitError(
      f"no finished logits dataset at {dataset!r} (data_dir={data_dir!r}); build it with "
      "python -m biglogit.data.make_logits or set config.data.dataset to its folder")


def label_names(builder, labels) -> list:
  """The class name of each label (the dataset's ClassLabel names), or 'class N' where it has none."""
  names = getattr(builder.info.features["label"], "names", None)
  return [names[int(l)] if names else f"class {int(l)}" for l in labels]


def open_split(dataset: str, split: str, data_dir: str = ""):
  """(random-access data source, tfds builder) for one split, with no TensorFlow."""
  path = resolve_dataset_dir(dataset, data_dir)
  builder = tfds.builder_from_directory(os.fspath(path))
  if split not in builder.info.splits:
    raise BiglogitError(f"dataset {path} has no split {split!r}; it has {sorted(builder.info.splits)}")
  source = builder.as_data_source(split)
  if len(source) == 0:
    raise BiglogitError(f"split {split!r} of dataset {path} is empty; rebuild it")
  return source, builder
