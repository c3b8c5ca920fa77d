"""Evaluation during training (eval.every > 0): the evaluation of `python -m biglogit.evaluate`, on
the EMA generator of the current state, written to eval/metrics_step_N.json; training calls it and
logs the returned scalars (process 0 only). The one entry point training uses into evaluation."""
import os

from biglogit import BiglogitError
from biglogit.classifiers import io as classifier_io
from biglogit.evaluate import core, trivial_inverters
from biglogit.inverter import Inverter


def check_judges(config):
  """The judges' folders of an evaluation during training, checked when training starts: a wrong path
  would otherwise surface only at the first evaluation, after the steps before it were spent. (Their
  spellings and every number are the schema's: config_schema.py.)"""
  e = config.eval
  if not (e.every or e.every_hours or e.at_end):
    return
  judges = {"eval.classifier": e.classifier, "eval.identifier": e.identifier,
            "eval.robust_features": e.robust_features,
            "eval.fid_extractor": e.fid_extractor.split(":", 1)[-1] if e.fid_extractor else ""}
  for name, directory in judges.items():
    if directory and not os.path.exists(os.path.join(directory, "classifier.json")):
      raise BiglogitError(f"{name}={directory!r} is not a classifier directory (no classifier.json); fix the "
                          "path or set it to '' to skip that judge")
    if directory:
      try:
        classifier_io.verify(directory)  # damaged or edited weights, before any step is spent
      except BiglogitError as e:
        raise BiglogitError(f"{name}: {e}") from None


class PeriodicEvaluation:
  """Loads the held-out examples and the judging networks once; each call scores one state."""

  def __init__(self, config):
    self.config = config
    self.examples, metadata = core.held_out(config, config.eval.split, config.eval.num_examples)
    self.evaluator = core.Evaluator(config, metadata)
    # The baselines do not change while G trains: scored once, attached to every record.
    self.baselines = trivial_inverters.for_config(config, self.evaluator, self.examples)

  def __call__(self, state, step: int, workdir: str, stem: str = None):
    inverter = Inverter.from_state(self.config, state, name=os.path.basename(os.path.normpath(workdir)),
                                   step=step, workdir=workdir)
    record, per_example = core.evaluate_inverter(inverter, self.evaluator, self.examples)
    record["split"] = self.config.eval.split
    record["baselines"] = self.baselines
    core.write_record(os.path.join(workdir, "eval"), record, stem=stem or f"metrics_step_{step:08d}",
                      per_example=per_example)
    return core.scalars(record)
