"""python -m biglogit.demo_data --out=DIR

Writes a small synthetic logits dataset (DIR/logits_dataset/toy/1.0.0) so the main command runs on a
fresh machine with no downloads: each 32x32 image is a flat colour and its 10 "logits" encode that
colour. For real data build a logits dataset with biglogit.data.make_logits.
"""
from absl import flags
import numpy as np

from biglogit.data import dataset as dataset_lib
from biglogit import cli

flags.DEFINE_string("out", "data_out", "data_dir to write into.")
flags.DEFINE_integer("num_train", 512, "Training examples.", lower_bound=1, upper_bound=cli.MAX_EXAMPLES)
FLAGS = flags.FLAGS


def toy_split(n: int, seed: int):
  rng = np.random.default_rng(seed)
  colours = rng.uniform(0, 1, (n, 3)).astype(np.float32)
  images = np.broadcast_to((colours * 255).astype(np.uint8)[:, None, None, :], (n, 32, 32, 3)).copy()
  logits = np.concatenate([colours * 4 - 2, rng.normal(0, 0.1, (n, 7)).astype(np.float32)], axis=1)
  return {"image": images, "logits": logits, "label": colours.argmax(-1)}


def main(argv):
  del argv
  if dataset_lib.is_complete(FLAGS.out, "toy"):
    print(f"{dataset_lib.dataset_dir(FLAGS.out, 'toy')} exists")
    return
  path = dataset_lib.write_numpy_dataset(FLAGS.out, "toy", {"train": toy_split(FLAGS.num_train, 0),
                                                            "test": toy_split(64, 1)},
                                         metadata={"source": "biglogit.demo_data (synthetic)"})
  print(f"wrote {path}")


if __name__ == "__main__":
  cli.run(main)
