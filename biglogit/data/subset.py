"""python -m biglogit.data.subset --dataset=NAME --data_dir=DIR --count=256 --name=NEW

A fixed subset of a logits dataset as a dataset of its own: the first `count` examples of one split,
written as both its `train` and `test` split, with the source's metadata (classifier, accuracy) and a
note of where it came from. The learning check trains on it and evaluates on the same images: can
the inverter, given full logits, point back at the very images it was trained on?
"""
from absl import flags

from biglogit import BiglogitError
from biglogit import limits
from biglogit import cli
from biglogit.data import dataset as dataset_lib
from biglogit.data import pipeline


def write_subset(dataset: str, data_dir: str, split: str, count: int, name: str, out_data_dir: str = ""):
  if count <= 0:
    raise BiglogitError(f"--count={count}; give a positive number of examples")
  out_data_dir = out_data_dir or data_dir
  if dataset_lib.is_complete(out_data_dir, name):
    return dataset_lib.dataset_dir(out_data_dir, name)  # already built: nothing to do
  source, builder = dataset_lib.open_split(dataset, split, data_dir)
  if len(source) < count:
    raise BiglogitError(f"split {split!r} of {dataset!r} has {len(source)} examples, fewer than "
                        f"--count={count}")
  ex = pipeline.fixed_examples(dataset, split, data_dir, count)
  arrays = {k: ex[k] for k in ("image", "logits", "label")}
  metadata = dict(builder.info.metadata or {})
  metadata["subset_of"] = {"dataset": str(dataset), "split": split, "first": int(count)}
  label = builder.info.features["label"]
  names = list(label.names) if getattr(label, "names", None) else None
  return dataset_lib.write_numpy_dataset(out_data_dir, name, {"train": arrays, "test": arrays},
                                         metadata=metadata, class_names=names)


def main(argv):
  del argv
  F = flags.FLAGS
  print(write_subset(F.dataset, F.data_dir, F.split, F.count, F.name, F.out_data_dir))


if __name__ == "__main__":
  flags.DEFINE_string("dataset", None, "Source logits dataset (folder, or name under --data_dir).")
  flags.DEFINE_string("data_dir", "", "Where named logits datasets live.")
  flags.DEFINE_string("split", "train", "Split the subset is taken from (its first --count examples).")
  flags.DEFINE_integer("count", 256, "Examples in the subset.", lower_bound=1, upper_bound=limits.MAX_EXAMPLES)
  flags.DEFINE_string("name", None, "Name of the new dataset (its train and test splits are the subset).")
  flags.DEFINE_string("out_data_dir", "", "Where to write it (default: --data_dir).")
  flags.mark_flags_as_required(["dataset", "name"])
  cli.run(main)
