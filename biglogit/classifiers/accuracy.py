"""python -m biglogit.classifiers.accuracy --classifier=DIR --source=SRC [--split=test]

Clean accuracy on every image of the split and PGD L-inf accuracy on the first --pgd_examples, with
biglogit's own pipeline (source -> input policy -> Flax classifier). Prints one JSON line.
"""
import json

import numpy as np
from absl import flags

from biglogit import cli
from biglogit import limits
from biglogit.classifiers import io as cio
from biglogit.classifiers import pgd
from biglogit import image_sources

FLAGS = flags.FLAGS
flags.DEFINE_string("classifier", None, "Classifier directory.")
flags.DEFINE_string("source", None, "Folder / tarball (split/<class>/<file>) or tfds:NAME.")
flags.DEFINE_string("split", "test", "Split to evaluate.")
flags.DEFINE_float("pgd_eps", 2 / 255, "L-inf radius on [0, 1] pixels.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("pgd_steps", 10, "PGD steps.", lower_bound=1, upper_bound=10_000)
flags.DEFINE_float("pgd_step_size", None, "Default: 2.5 * eps / steps (Madry et al.).",
                   lower_bound=1e-9, upper_bound=1.0)
flags.DEFINE_integer("pgd_examples", 500, "PGD on the first N examples of the split.",
                     lower_bound=1, upper_bound=limits.MAX_EXAMPLES)


def main(argv):
  del argv
  module, variables, meta = cio.load_classifier(FLAGS.classifier)
  source = image_sources.open_source(FLAGS.source)
  skips = image_sources.SkipLog()
  recs = list(source.records(FLAGS.split, meta["input_resolution"], meta["resize"], skips))
  images = np.stack([r.image for r in recs]).astype(np.float32) / 255.0
  labels = np.asarray([r.label for r in recs])
  step = FLAGS.pgd_step_size or 2.5 * FLAGS.pgd_eps / FLAGS.pgd_steps
  results = pgd.clean_and_pgd_accuracy(module, variables, images, labels, eps=FLAGS.pgd_eps,
                                       step_size=step, steps=FLAGS.pgd_steps,
                                       pgd_examples=FLAGS.pgd_examples)
  print(json.dumps({"classifier": meta["architecture"], "split": FLAGS.split, "n": len(images),
                    "pgd_eps": FLAGS.pgd_eps, "pgd_steps": FLAGS.pgd_steps, **results,
                    "skipped": len(skips.skipped)}))


if __name__ == "__main__":
  flags.mark_flags_as_required(["classifier", "source"])
  cli.run(main)
