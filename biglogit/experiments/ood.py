"""Out-of-distribution images through an inverter trained on one dataset's logits, no retraining.

  python -m biglogit.experiments.ood --workdir=RUN \
      --source=../shared/data/tiny-imagenet-200-val/tiny_imagenet_200_val.tar.gz --source=skimage

A source is an image folder / tarball in split/class/file layout (any split; images are spread over
all of it), or "skimage" for scikit-image's sample photos. Each image is resized (shorter side) and
centre-cropped to the model's resolution, passed through phi, and inverted. ood.json compares every
metric (95% intervals) with the in-distribution held-out split; ood.png: one block of rows per
source, original | reconstruction.
"""
import os

import numpy as np
from PIL import Image

from biglogit import BiglogitError
from biglogit import limits
from biglogit import cli
from biglogit import inference
from biglogit import image_sources
from biglogit.experiments import harness

NAME = "ood"
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                  "immunohistochemistry", "camera", "coins")


def skimage_images(resolution: int) -> np.ndarray:
  try:
    import skimage.data
  except ImportError as e:
    raise BiglogitError("source 'skimage' needs scikit-image (pip install scikit-image)") from e
  out = []
  for name in SKIMAGE_PHOTOS:
    img = np.asarray(getattr(skimage.data, name)())
    out.append(image_sources.apply_policy(Image.fromarray(img), resolution, resolution))
  return np.stack(out)


def folder_images(path: str, resolution: int, limit: int) -> np.ndarray:
  """Up to `limit` images spread evenly over every split of a folder / tarball."""
  source = image_sources.open_source(path)
  images = []
  for split in source.splits:
    stride = max(1, source.count(split) // max(1, limit // len(source.splits)))
    for i, rec in enumerate(source.records(split, resolution, resolution, image_sources.SkipLog())):
      if i % stride == 0:
        images.append(rec.image)
  if not images:
    raise BiglogitError(f"no readable images in {path}")
  return np.stack(images[:limit])


def load_source(spec: str, resolution: int, limit: int) -> np.ndarray:
  if spec == "skimage":
    return skimage_images(resolution)
  if not os.path.exists(spec):
    raise BiglogitError(f"--source={spec}: no such folder or tarball; give an image folder/tarball "
                        "(split/class/file) or 'skimage'")
  return folder_images(spec, resolution, limit)


def run(workdir, out=None, source_specs=("skimage",), limit: int = 500, num_images: int = 6,
        num_examples: int = 500, seed: int = 0, split=None, levers=None):
  r = harness.prepare_experiment(workdir, NAME, num_examples=num_examples, split=split, out=out, need_phi=True,
                                levers=levers)
  resolution = int(r.config.model.resolution)
  loaded = {spec: load_source(spec, resolution, limit) for spec in source_specs}  # fail before work
  phi, ex = r.evaluator.phi, r.examples
  x_hat = r.inverter.reconstruct(ex["logits"], seed=seed, indices=ex["index"])
  groups = {"in_distribution": {"count": len(ex["x"]),
                                "metrics": r.evaluator.score(ex["x"], x_hat, ex["logits"], ex["label"])[0]}}
  columns, row_labels = [[], []], []
  for spec, images in loaded.items():
    x = images.astype(np.float32) / 255.0
    z = phi.logits(x)
    x_hat = r.inverter.reconstruct(z, seed=seed)
    # Foreign images have no label in phi's classes: identifiability is scored against phi's own
    # prediction, i.e. whether an independent classifier agrees with phi about x_hat.
    summary, _ = r.evaluator.score(x, x_hat, z, z.argmax(-1))
    name = "skimage" if spec == "skimage" else os.path.basename(spec.rstrip("/"))
    groups[name] = {"count": int(len(x)), "source": spec, "metrics": summary}
    shown = harness.pick(len(x), num_images, seed)
    columns[0].append(x[shown])
    columns[1].append(x_hat[shown])
    row_labels += [name[:12]] * len(shown)
  figure = harness.save_grid(os.path.join(r.out, "ood.png"), [np.concatenate(c) for c in columns],
                            ["foreign image", "x_hat"], row_labels)
  result = {**harness.header(r, NAME), "groups": groups, "figures": [os.path.basename(figure)],
            "figure_rows": [k for k in groups if k != "in_distribution"]}
  harness.write_json(os.path.join(r.out, "ood.json"), result)
  return result


if __name__ == "__main__":
  from absl import flags
  harness.define_common_flags(500)
  flags.DEFINE_multi_string("source", ["skimage"], "Image folder/tarball, or 'skimage'; repeatable.")
  flags.DEFINE_integer("limit", 500, "Images per source at most.", lower_bound=1, upper_bound=limits.MAX_EXAMPLES)
  flags.DEFINE_integer("num_images", 6, "Rows per source in the figure.", lower_bound=1, upper_bound=limits.MAX_ROWS)
  F = flags.FLAGS
  cli.run(lambda _: run(F.workdir, F.out, F.source, F.limit, F.num_images, F.num_examples, F.seed,
                        F.split, levers=inference.overrides_from_flags(F)))
