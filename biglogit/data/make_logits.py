"""python -m biglogit.data.make_logits --source=SRC --classifier=DIR --data_dir=DIR [--name=NAME]

Builds the logits dataset of the data contract (biglogit/data/dataset.py) for each split of SRC
(data/logits_builder.py): SRC is a folder or .tar.gz in split/<class>/<file> layout, or tfds:NAME.
Re-running finds the finished dataset and does nothing; an interrupted run leaves nothing that reads
as a dataset. Prints each split's size, the classifier's accuracy on it and the skipped files.
"""
import os

from absl import flags

from biglogit import cli, host
from biglogit import limits
from biglogit.data.logits_builder import CLASS_INDEXES, build_logits_dataset


FLAGS = flags.FLAGS


def main(argv):
  del argv
  # two XLA devices per core, the batch sharded over them: twice the images/s of one device on a
  # 2-core CPU (docs/measurements.md#numbers-behind-the-code)
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
  flags.DEFINE_string("source", None, "Folder / .tar.gz in split/<class>/<file> layout, or tfds:NAME.")
  flags.DEFINE_string("classifier", None, "Classifier directory (from biglogit.convert or classifier training).")
  flags.DEFINE_string("data_dir", None, "Where the logits dataset is written.")
  flags.DEFINE_string("name", None, "Dataset name (default: <source>_<architecture>).")
  flags.DEFINE_list("splits", None, "Splits to build (default: all of the source's).")
  flags.DEFINE_integer("batch_size", 256, "Images per classifier batch (rounded up to the device count).",
                       lower_bound=1, upper_bound=limits.MAX_BATCH)
  flags.DEFINE_integer("store_resolution", None, "Resolution of the stored images (default: the classifier's).",
                       lower_bound=8, upper_bound=limits.MAX_RESOLUTION)
  flags.DEFINE_string("tfds_data_dir", None, "data_dir of a tfds: source.")
  flags.DEFINE_integer("holdout_per_class", 0, "Split a one-split folder source: hold out the last N files "
                       "of each class (by name) as 'test', the rest is 'train'.",
                       lower_bound=0, upper_bound=limits.MAX_EXAMPLES)
  flags.DEFINE_list("max_per_class", [], "Keep the first N files (by name) of each class: N for every "
                    "split, or split:N items, e.g. train:500,test:100 (folder / tarball sources).")
  flags.DEFINE_enum("class_index", "folder", list(CLASS_INDEXES), "Labels: the sorted class folders, or "
                    "the ImageNet-1k index of each class folder's wnid (imagenet1k).")
  flags.mark_flags_as_required(["source", "classifier", "data_dir"])
  cli.run(main)
