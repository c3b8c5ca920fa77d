"""python -m biglogit.convert --arch=cifar_resnet20 --checkpoint=FILE.th --out=DIR

Converts a PyTorch classifier checkpoint into a Flax classifier directory (variables.msgpack +
classifier.json). Architectures: see biglogit.classifiers.ARCHITECTURES.
"""
import math

from absl import flags

from biglogit import cli
from biglogit.classifiers import from_torch

flags.DEFINE_string("arch", None, "e.g. cifar_resnet20, vnn_resnet4b, resnet152, inception_v3, efficientnet_lite0")
flags.DEFINE_string("checkpoint", None, "PyTorch checkpoint file (loaded with weights_only=True).")
flags.DEFINE_string("out", None, "Output directory.")
flags.DEFINE_integer("num_classes", None, "Default: read from the checkpoint's final layer.",
                     lower_bound=1, upper_bound=100_000)
flags.DEFINE_list("mean", None, "Input normalisation mean (default: the architecture's / the file's).")
flags.DEFINE_list("std", None, "Input normalisation std.")
flags.mark_flags_as_required(["arch", "checkpoint", "out"])


def _channel_numbers(values, positive: bool) -> bool:
  try:
    numbers = [float(v) for v in values]
  except ValueError:
    return False
  return len(numbers) == 3 and all(math.isfinite(x) and (x > 0 or not positive) for x in numbers)


flags.register_validator("mean", lambda v: v is None or _channel_numbers(v, False),
                         "takes 3 finite numbers separated by commas, one per RGB channel (e.g. 0.485,0.456,0.406)")
flags.register_validator("std", lambda v: v is None or _channel_numbers(v, True),
                         "takes 3 numbers above 0 separated by commas, one per RGB channel (e.g. 0.229,0.224,0.225)")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  mean = [float(v) for v in FLAGS.mean] if FLAGS.mean else None
  std = [float(v) for v in FLAGS.std] if FLAGS.std else None
  _, _, meta = from_torch.convert(FLAGS.arch, FLAGS.checkpoint, FLAGS.out, FLAGS.num_classes, mean, std)
  print(f"wrote {FLAGS.out}: {meta['architecture']}, {meta['num_classes']} classes, "
        f"{meta['input_resolution']}px, sha256 {meta['source_sha256'][:12]}")


if __name__ == "__main__":
  cli.run(main)
