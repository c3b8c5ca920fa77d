"""python -m biglogit.convert --arch=cifar_resnet20 --checkpoint=FILE.th --out=DIR

Converts a PyTorch classifier checkpoint into a Flax classifier directory (variables.msgpack +
classifier.json). Architectures: see biglogit.classifiers.ARCHITECTURES.
"""

from absl import flags

from biglogit import cli
from biglogit.classifiers import from_torch

flags.DEFINE_string("arch", None, "e.g. cifar_resnet20, vnn_resnet4b, resnet152, inception_v3, efficientnet_lite0")
flags.DEFINE_string("checkpoint", None, "PyTorch checkpoint file (loaded with weights_only=True).")
flags.DEFINE_string("out", None, "Output directory.")
flags.DEFINE_integer("num_classes", None, "Default: read from the checkpoint's final layer.")
flags.DEFINE_list("mean", None, "Input normalisation mean (default: the architecture's / the file's).")
flags.DEFINE_list("std", None, "Input normalisation std.")
flags.mark_flags_as_required(["arch", "checkpoint", "out"])
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
