"""Checks that must fail before a training compiles or writes anything: the config against the declared
schema and the devices, the judges, the data named and its evaluation split readable, a workdir that is
writable with room for a checkpoint, and where to resume (or that there is nothing left to do)."""
import os
import shutil

import jax
from absl import logging
from etils import epath

from biglogit import BiglogitError
from biglogit import checkpointing
from biglogit import config_schema
from biglogit import files
from biglogit import resume_guard
from biglogit import sharding
from biglogit import warm_start
from biglogit.classifiers import io as classifier_io
from biglogit.data import dataset as dataset_lib
from biglogit.data import pipeline
from biglogit.evaluate import periodic


def validate_config(config, mesh):
  """Cheap checks that must fail before any compile or write: the declared schema (config_schema.py),
  the batch against the devices, and the judges' folders of an evaluation during training."""
  config_schema.check(config)
  periodic.check_judges(config)
  sharding.check_batch_divisible(config.train.global_batch, mesh, micro_batches=config.train.grad_accum)


def check_dataset_named(config):
  # here, not in validate_config: the benchmark and perf.memory need no dataset
  if not config.data.dataset:
    raise BiglogitError("data.dataset is empty; set it to a logits dataset's name (under data.data_dir) "
                        "or folder")


def check_eval_split(config):
  """The evaluation split of periodic and final evaluations, opened and read finite before any step."""
  if config.eval.every or config.eval.every_hours or config.eval.at_end:
    dataset_lib.open_split(config.data.dataset, config.eval.split, config.data.data_dir)
    pipeline.split_logits(config.data.dataset, config.eval.split, config.data.data_dir, config.eval.num_examples)


def final_eval_missing(config, workdir: str) -> bool:
  return bool(config.eval.at_end) and not (epath.Path(workdir) / "eval" / "metrics.json").exists()


def check_start(config, workdir: str, checkpointer, num_devices: int, allow_changed_resume: bool, spec):
  """Where this start stands: None if the run is already finished (said on stdout), else (the trajectory
  identity, the changes the resume guard allowed, the step it resumes from). Refuses a workdir of another
  architecture, one past train.num_steps, and a resume with changed trajectory settings unless allowed."""
  checkpointer.check_compatible()
  latest = checkpointer.latest_step()
  if latest is None:  # a warm start's source is read at the first start only (a resume needs it no more)
    warm_start.check(config)
  if latest is not None and latest > config.train.num_steps:
    raise BiglogitError(f"{workdir} already holds step {latest}, past train.num_steps="
                        f"{config.train.num_steps}; raise --config.train.num_steps or use another workdir")
  if latest is not None and latest == config.train.num_steps and not final_eval_missing(config, workdir):
    logging.info("the run in %s is already finished (step %d = train.num_steps); raise "
                 "--config.train.num_steps to train further", workdir, latest)
    print(f"already finished: {workdir} holds step {latest} = train.num_steps; raise "
          "--config.train.num_steps to train further")
    return None
  trajectory = resume_guard.identity(config, spec, num_devices)
  changes = resume_guard.check(workdir, trajectory, latest, allow_changed_resume)
  if changes:
    logging.warning("resuming with changed trajectory settings (allowed): %s", changes)
  return trajectory, changes, latest or 0


def phi_dir(config, dataset_metadata) -> str:
  """The frozen classifier of train.consistency_weight: train.consistency_classifier, else the
  classifier that made the logits."""
  directory = config.train.consistency_classifier or dataset_metadata.get("classifier_dir", "")
  if not directory or not os.path.exists(os.path.join(directory, classifier_io.METADATA)):
    raise BiglogitError(f"train.consistency_weight > 0 needs the classifier phi, and {directory!r} is not one; "
                        "set --config.train.consistency_classifier=DIR (the classifier that made the logits)")
  return directory


def comparator_dir(config, dataset_metadata) -> str:
  """DeePSiM's comparator network: deepsim.comparator, else the classifier that made the logits."""
  directory = config.deepsim.comparator or dataset_metadata.get("classifier_dir", "")
  if not directory or not os.path.exists(os.path.join(directory, classifier_io.METADATA)):
    raise BiglogitError(f"method=deepsim and the hybrid loss need a comparator classifier, and {directory!r} is "
                        "not one; set --config.deepsim.comparator=DIR (a converted or trained classifier)")
  return directory


def check_free_space(workdir: str, abstract):
  """A full disk would fail the first checkpoint after a long compile; fail now instead."""
  need = checkpointing.checkpoint_bytes(abstract)
  if files.is_remote(workdir):  # object storage: no quota to query
    return
  free = shutil.disk_usage(workdir).free
  if free < 2 * need:
    raise BiglogitError(f"workdir {workdir} has {free / 2**20:.1f} MiB free but a checkpoint needs "
                        f"about {need / 2**20:.1f} MiB (keep twice that free); free space or pick "
                        "another --workdir")


def check_workdir_writable(workdir: str):
  try:
    epath.Path(workdir).mkdir(parents=True, exist_ok=True)
    probe = epath.Path(workdir) / f".write_probe_{jax.process_index()}"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    raise BiglogitError(f"workdir {workdir} is not writable ({e.strerror}); pick another --workdir") from e
