"""python -m biglogit.baselines --kind=KIND --dataset=NAME --data_dir=DIR --out=DIR [--release=FORMAT,...]

A trivial inverter (constant | mean | class_mean | nearest_logits, see biglogit/evaluate/trivial_inverters.py)
scored by the evaluation of `python -m biglogit.evaluate` on the same first N held-out examples.
Reads the logits dataset (held-out split + training split as the reference) and the judging
networks; writes OUT/eval/metrics.json + metrics.md (a row in `biglogit.report`, like an inverter run)
and OUT/eval/grid.png (original | baseline reconstruction).

--release: what the baseline sees of phi's output, as an attacker of an API would (data/release.py:
full, softmax, top1, topk:K, rounded:D). The nearest neighbours are searched among the training
split's released vectors, in that format. Several formats (comma-separated) are scored in one
process, each into OUT/release=FORMAT/eval/ (the judges load once).
"""
import os

import numpy as np
from absl import flags

from biglogit import BiglogitError
from biglogit import limits
from biglogit import images as image_lib
from biglogit import cli
from biglogit.config_base import base_config
from biglogit.data import release as release_lib
from biglogit.evaluate import trivial_inverters
from biglogit.evaluate import core


def run(kind: str, dataset: str, out: str, *, data_dir: str = "", split: str = "test",
        num_examples: int = 1000, distance: str = "cosine", reference_examples: int = 0,
        classifier: str = "", identifier: str = "", robust_features: str = "", fid_extractor: str = "",
        batch_size: int = 250, num_images: int = 8, class_mean_by: str = "label", release="full"):
  """One release format: the record written into OUT/eval. Several (a list): {format: record}, each
  written into OUT/release=FORMAT/eval."""
  trivial_inverters.parse_kinds([kind])
  formats = [release] if isinstance(release, str) else list(release)
  specs = [release_lib.from_key(f) for f in formats]  # malformed formats refused before any work
  if not specs:
    raise BiglogitError("--release is empty; give a format, e.g. full")
  if num_examples < 1:
    raise BiglogitError(f"--num_examples={num_examples}; use at least 1")
  if reference_examples < 0:
    raise BiglogitError(f"--reference_examples={reference_examples}; use 0 (all) or more")
  config = base_config()
  config.data.dataset, config.data.data_dir = dataset, data_dir
  e = config.eval
  e.split, e.num_examples, e.batch_size = split, num_examples, batch_size
  e.classifier, e.identifier, e.robust_features, e.fid_extractor = (classifier, identifier,
                                                                     robust_features, fid_extractor)
  examples, metadata = core.held_out(config, split, num_examples)
  evaluator = core.Evaluator(config, metadata)
  reference = trivial_inverters.load_reference(dataset, config.data.train_split, data_dir, reference_examples)
  records = {}
  for spec in specs:
    name = release_lib.key(spec)
    where = out if isinstance(release, str) else os.path.join(out, f"release={name.replace(':', '')}")
    # What the attacker holds: the released vectors of the query and of the training split.
    released = trivial_inverters.Reference(reference.images, np.asarray(release_lib.apply(spec, reference.logits)),
                                   reference.labels)
    x_hat = trivial_inverters.reconstruct(kind, released, np.asarray(release_lib.apply(spec, examples["logits"])),
                                  distance, class_mean_by)
    summary, per_example = evaluator.score(examples["x"], x_hat, examples["logits"], examples["label"])
    settings = {"kind": kind, "reference_split": config.data.train_split,
                "reference_examples": int(len(reference.labels)), "release": name}
    if kind == "nearest_logits":
      settings["distance"] = distance
    if kind == "class_mean":
      settings["class_mean_by"] = class_mean_by
    reads = trivial_inverters.READS[kind] if spec.kind == "full" else f"{trivial_inverters.READS[kind]} of the {release_lib.describe(spec)}"
    record = {"run": os.path.basename(os.path.normpath(where)), "workdir": where, "step": None,
              "method": f"baseline:{kind}", "release": reads, "dataset": dataset,
              "split": split, "num_examples": int(len(x_hat)), "settings": settings,
              "networks": evaluator.describe(), "notes": evaluator.notes, "metrics": summary}
    core.write_record(os.path.join(where, "eval"), record, per_example={**per_example, "index": examples["index"]})
    shown = np.linspace(0, len(x_hat) - 1, min(num_images, len(x_hat))).astype(int)
    image_lib.save_png(os.path.join(where, "eval", "grid.png"),
                       image_lib.labelled_grid([examples["image"][shown], image_lib.unit_to_uint8(x_hat[shown])],
                                               ["original", f"baseline: {kind} ({name})"], upscale=3))
    print(core.markdown_table(record))
    records[name] = record
  return records[release_lib.key(specs[0])] if isinstance(release, str) else records


def main(argv):
  del argv
  F = flags.FLAGS
  run(
      F.kind, F.dataset, F.out, data_dir=F.data_dir, split=F.split, num_examples=F.num_examples,
      distance=F.distance, reference_examples=F.reference_examples, classifier=F.classifier,
      identifier=F.identifier, robust_features=F.robust_features, fid_extractor=F.fid_extractor,
      batch_size=F.batch_size, num_images=F.num_images, class_mean_by=F.class_mean_by,
      release=F.release[0] if len(F.release) == 1 else F.release)


if __name__ == "__main__":
  flags.DEFINE_enum("kind", None, list(trivial_inverters.KINDS), "Which trivial inverter.")
  flags.DEFINE_string("dataset", None, "Logits dataset (its folder, or its name under --data_dir).")
  flags.DEFINE_string("data_dir", "", "Where named logits datasets live.")
  flags.DEFINE_string("out", None, "Output folder: OUT/eval/metrics.{json,md} and OUT/eval/grid.png.")
  flags.DEFINE_string("split", "test", "Held-out split scored (its first --num_examples).")
  flags.DEFINE_integer("num_examples", 1000, "Held-out examples to score.", lower_bound=1, upper_bound=limits.MAX_EXAMPLES)
  flags.DEFINE_enum("distance", "cosine", list(trivial_inverters.DISTANCES), "nearest_logits: logit distance.")
  flags.DEFINE_enum("class_mean_by", "label", list(trivial_inverters.CLASS_MEAN_BY), "class_mean: group the "
                    "training images by their true label or by phi's prediction on them.")
  flags.DEFINE_integer("reference_examples", 0, "First N training examples as reference (0: all).",
                       lower_bound=0, upper_bound=limits.MAX_EXAMPLES)
  flags.DEFINE_string("classifier", "", "phi (default: the classifier recorded in the dataset).")
  flags.DEFINE_string("identifier", "", "Independent classifier for identifiability.")
  flags.DEFINE_string("robust_features", "", "Independent robust classifier: feature distance and retrieval.")
  flags.DEFINE_string("fid_extractor", "", "inception:DIR or classifier:DIR (stand-in).")
  flags.DEFINE_integer("batch_size", 250, "Batch of the judging networks.", lower_bound=1, upper_bound=limits.MAX_BATCH)
  flags.DEFINE_integer("num_images", 8, "Rows of OUT/eval/grid.png.", lower_bound=1, upper_bound=limits.MAX_ROWS)
  flags.DEFINE_list("release", ["full"], "What the baseline sees of phi's output: full, softmax, top1, "
                    "topk:K, rounded:D; several: OUT/release=FORMAT/eval each.")
  flags.mark_flags_as_required(["kind", "dataset", "out"])
  cli.run(main)
