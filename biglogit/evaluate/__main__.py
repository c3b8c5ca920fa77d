"""python -m biglogit.evaluate --workdir=RUN --split=test

Scores the EMA generator of RUN's latest (or --step) checkpoint on held-out examples, beside the
trivial baselines (eval.baselines) on the same examples and each metric's chance level, and writes
RUN/eval/metrics.json and RUN/eval/metrics.md. The judging networks default to the run's config
(eval section); the flags below override them.
"""
import os

from absl import flags

from biglogit import BiglogitError
from biglogit import checkpointing
from biglogit import limits
from biglogit import cli
from biglogit import config_schema
from biglogit import files
from biglogit import inference
from biglogit.evaluate import core, trivial_inverters
from biglogit.inverter import Inverter, load_config

OVERRIDABLE = ("split", "num_examples", "classifier", "identifier", "robust_features", "fid_extractor",
               "baselines", "noise_samples")


def apply_overrides(config, overrides):
  """Command-line choices (eval.* keys, and data_dir) override the run's saved config."""
  with config.unlocked():
    for name, value in (overrides or {}).items():
      if value is None:
        continue
      if name == "data_dir":
        config.data.data_dir = value
      elif name in OVERRIDABLE:
        config.eval[name] = value
      else:
        raise BiglogitError(f"unknown evaluation override {name!r}; use one of {OVERRIDABLE + ('data_dir',)}")
  config_schema.check(config, relations=False)  # the overrides, by the same schema as training's
  return config


def run(workdir: str, step=None, out=None, overrides=None, levers=None):
  """levers: inference settings over the inverter's own (inference.overrides_from_flags)."""
  config = apply_overrides(load_config(workdir), overrides)
  out = out or os.path.join(workdir, "eval")
  if not files.is_remote(out):  # before the work, not after it
    files.check_can_create(out, "--out")
    for stem in ("metrics.json", "metrics.md"):
      if os.path.isdir(os.path.join(out, stem)):
        raise BiglogitError(f"{os.path.join(out, stem)} is a folder; give another --out")
  # Data and judging networks first: a bad path fails before the checkpoint is restored.
  examples, metadata = core.held_out(config, config.eval.split, config.eval.num_examples)
  evaluator = core.Evaluator(config, metadata)
  inverter = Inverter.load(workdir, step)
  inverter.config = config  # the overridden eval settings; model and release are the saved ones
  inverter.set_inference(**(levers or {}))
  record, per_example = core.evaluate_inverter(inverter, evaluator, examples)
  record["split"] = config.eval.split
  seconds = checkpointing.saved_progress(os.path.join(workdir, "checkpoints"), inverter.step).get("train_seconds")
  if seconds is not None:  # so a curve over hours places this checkpoint, which the log may not reach
    record["train_hours"] = float(seconds) / 3600
  record["baselines"] = trivial_inverters.for_config(config, evaluator, examples)
  core.write_record(out, record, per_example=per_example)
  print(core.markdown_table(record))
  return record


def main(argv):
  del argv
  F = flags.FLAGS
  run(F.workdir, F.step, F.out, {k: getattr(F, k) for k in OVERRIDABLE + ("data_dir",)},
      inference.overrides_from_flags(F))


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "A biglogit.main workdir.")
  flags.DEFINE_string("split", None, "Held-out split of the logits dataset (default: the config's eval.split).")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).", lower_bound=0, upper_bound=limits.MAX_STEPS)
  flags.DEFINE_integer("num_examples", None, "Examples to score (default: eval.num_examples).",
                       lower_bound=1, upper_bound=limits.MAX_EXAMPLES)
  flags.DEFINE_string("classifier", None, "phi (default: eval.classifier, else the dataset's classifier).")
  flags.DEFINE_string("identifier", None, "Independent classifier for identifiability.")
  flags.DEFINE_string("robust_features", None, "Classifier whose penultimate features give the feature distance.")
  flags.DEFINE_string("fid_extractor", None, "inception:DIR or classifier:DIR (stand-in).")
  flags.DEFINE_string("baselines", None, "Comma-separated trivial baselines scored beside the run "
                      "(constant,mean,class_mean,nearest_logits; '' for none; default: eval.baselines).")
  flags.DEFINE_string("data_dir", None, "Where the run's logits dataset lives, if it moved.")
  flags.DEFINE_string("out", None, "Output folder (default: RUN/eval).")
  flags.DEFINE_integer("noise_samples", None, "eps draws per example for noise_std (0 skips it; default: "
                       "eval.noise_samples).", lower_bound=0, upper_bound=1000)
  inference.define_flags()
  flags.mark_flags_as_required(["workdir"])
  cli.run(main)
