"""python -m biglogit.demo_data --out=DIR [--resolution=32 --pattern=flat --name=toy]

Writes a small synthetic logits dataset (DIR/logits_dataset/NAME/1.0.0) so the main command runs on a
fresh machine with no downloads: each image is a flat colour and its 10 "logits" encode that colour.
--pattern=textured adds a smooth random texture to every image, so that its PNG costs about what a
photograph's does to decode (for timing the input pipeline: docs/scaling.md), e.g.
  python -m biglogit.demo_data --out=/tmp/data128 --name=textured128 --resolution=128 --pattern=textured
For real data build a logits dataset with biglogit.data.make_logits.
"""
from absl import flags
import numpy as np

from biglogit.data import dataset as dataset_lib
from biglogit import cli
from biglogit import limits

flags.DEFINE_string("out", "data_out", "data_dir to write into.")
flags.DEFINE_integer("num_train", 512, "Training examples.", lower_bound=1, upper_bound=limits.MAX_EXAMPLES)
flags.DEFINE_integer("resolution", 32, "Image side in pixels.", lower_bound=8, upper_bound=limits.MAX_RESOLUTION)
flags.DEFINE_enum("pattern", "flat", ["flat", "textured"], "Flat colours, or colours with a smooth random texture.")
flags.DEFINE_string("name", "toy", "Dataset name.")
FLAGS = flags.FLAGS


def toy_split(n: int, seed: int, resolution: int = 32, pattern: str = "flat"):
  rng = np.random.default_rng(seed)
  colours = rng.uniform(0, 1, (n, 3)).astype(np.float32)
  images = np.broadcast_to((colours * 255).astype(np.uint8)[:, None, None, :], (n, resolution, resolution, 3)).copy()
  if pattern == "textured":
    images = _textured(images, rng)
  logits = np.concatenate([colours * 4 - 2, rng.normal(0, 0.1, (n, 7)).astype(np.float32)], axis=1)
  return {"image": images, "logits": logits, "label": colours.argmax(-1)}


def _textured(images, rng):
  """The flat colours plus noise at several scales (coarse blobs to single pixels): PNG compresses it
  about as little as a photograph, unlike a flat image."""
  n, r = images.shape[0], images.shape[1]
  texture = np.zeros(images.shape, np.float32)
  for cells, amplitude in ((4, 40.0), (16, 20.0), (r, 8.0)):
    coarse = rng.normal(0, amplitude, (n, min(cells, r), min(cells, r), 3)).astype(np.float32)
    up = -(-r // coarse.shape[1])  # ceil: every side covered, then cut to r
    texture += np.repeat(np.repeat(coarse, up, axis=1), up, axis=2)[:, :r, :r]
  return np.clip(images.astype(np.float32) + texture, 0, 255).astype(np.uint8)


def main(argv):
  del argv
  if dataset_lib.is_complete(FLAGS.out, FLAGS.name):
    print(f"{dataset_lib.dataset_dir(FLAGS.out, FLAGS.name)} exists")
    return
  splits = {"train": toy_split(FLAGS.num_train, 0, FLAGS.resolution, FLAGS.pattern),
            "test": toy_split(64, 1, FLAGS.resolution, FLAGS.pattern)}
  path = dataset_lib.write_numpy_dataset(FLAGS.out, FLAGS.name, splits,
                                         metadata={"source": f"biglogit.demo_data (synthetic, {FLAGS.pattern})"})
  print(f"wrote {path}")


if __name__ == "__main__":
  cli.run(main)
