"""python -m biglogit.evaluate --workdir=RUN --split=test

Scores the EMA generator of RUN's latest (or --step) checkpoint on held-out examples and writes
RUN/eval/metrics.json and RUN/eval/metrics.md. The judging networks default to the run's config
(eval section); the flags below override them.
"""
import os
import sys

from absl import app, flags

from biglogit import BiglogitError

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A biglogit.main workdir.")
flags.DEFINE_string("split", None, "Held-out split of the logits dataset (default: the config's eval.split).")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
flags.DEFINE_integer("num_examples", None, "Examples to score (default: eval.num_examples).")
flags.DEFINE_string("classifier", None, "phi (default: eval.classifier, else the dataset's classifier).")
flags.DEFINE_string("identifier", None, "Independent classifier for identifiability.")
flags.DEFINE_string("robust_features", None, "Classifier whose penultimate features give the feature distance.")
flags.DEFINE_string("fid_extractor", None, "inception:DIR or classifier:DIR (stand-in).")
flags.DEFINE_string("data_dir", None, "Where the run's logits dataset lives, if it moved.")
flags.DEFINE_string("out", None, "Output folder (default: RUN/eval).")


def apply_overrides(config):
  """Command-line choices of the judging networks override the run's saved config."""
  with config.unlocked():
    for name in ("classifier", "identifier", "robust_features", "fid_extractor"):
      if getattr(FLAGS, name) is not None:
        config.eval[name] = getattr(FLAGS, name)
    if FLAGS.num_examples is not None:
      config.eval.num_examples = FLAGS.num_examples
    if FLAGS.split is not None:
      config.eval.split = FLAGS.split
    if FLAGS.data_dir is not None:
      config.data.data_dir = FLAGS.data_dir
  return config


def run(workdir: str, step=None, out=None):
  from biglogit.evaluate import core
  from biglogit.evaluate.inverter import Inverter, load_config
  config = apply_overrides(load_config(workdir))
  # Data and judging networks first: a bad path fails before the checkpoint is restored.
  examples, metadata = core.held_out(config, config.eval.split, config.eval.num_examples)
  evaluator = core.Evaluator(config, metadata)
  inverter = Inverter.load(workdir, step)
  inverter.config = config
  record = core.evaluate_inverter(inverter, evaluator, examples)
  record["split"] = config.eval.split
  out = out or os.path.join(workdir, "eval")
  core.write_record(out, record)
  print(core.markdown_table(record))
  return record


def main(argv):
  del argv
  try:
    run(FLAGS.workdir, FLAGS.step, FLAGS.out)
  except BiglogitError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir"])
  app.run(main)
