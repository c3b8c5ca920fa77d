"""python -m biglogit.main --config=configs/<file>.py --workdir=DIR

Trains (or resumes) a logit inverter. Multi-process launches (TPU pod slices, SLURM, or explicit
coordinator flags) initialise jax.distributed first; everything else lives in biglogit.train.
"""
import os

from absl import flags, logging
from ml_collections import config_flags

from biglogit import BiglogitError, cli, host
from biglogit import limits

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file (get_config()); override with --config.x=...",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Checkpoints, logs and images go here; an existing one is resumed.")
flags.DEFINE_string("coordinator_address", os.environ.get("BIGLOGIT_COORDINATOR_ADDRESS"),
                    "host:port of process 0 (multi-process GPU/CPU); env BIGLOGIT_COORDINATOR_ADDRESS.")
flags.DEFINE_integer("num_processes", cli.env_int("BIGLOGIT_NUM_PROCESSES", 1, limits.MAX_PROCESSES),
                     "Number of processes (multi-process GPU/CPU); env BIGLOGIT_NUM_PROCESSES.",
                     lower_bound=1, upper_bound=limits.MAX_PROCESSES)
flags.DEFINE_integer("process_id", cli.env_int("BIGLOGIT_PROCESS_ID", 0, limits.MAX_PROCESSES - 1),
                     "This process's id (multi-process GPU/CPU); env BIGLOGIT_PROCESS_ID.",
                     lower_bound=0, upper_bound=limits.MAX_PROCESSES - 1)
flags.DEFINE_bool("allow_changed_resume", False,
                  "Resume even if batch, seed, optimiser, release, dataset or device count differ from the "
                  "workdir's first start (the changes are recorded in WORKDIR/run_history.json).")
flags.DEFINE_string("compile_cache", host.default_compile_cache(),
                    "Folder of JAX's persistent compilation cache ('' = off); env BIGLOGIT_COMPILE_CACHE.")
flags.mark_flags_as_required(["config", "workdir"])


def _maybe_initialize_distributed():
  """Explicit coordinator flags (or their BIGLOGIT_* environment variables) win; otherwise JAX
  auto-detects a TPU pod slice or a SLURM job with more than one task."""
  import jax
  explicit = FLAGS.coordinator_address is not None
  if not explicit and "TPU_WORKER_HOSTNAMES" not in os.environ and \
      cli.env_int("SLURM_NTASKS", 1, limits.MAX_PROCESSES, default=1) <= 1:
    return
  # Cross-process collectives on CPU devices need gloo; the setting is ignored by GPU/TPU backends.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if explicit:
    if FLAGS.num_processes is None or FLAGS.process_id is None:
      raise BiglogitError("--coordinator_address needs --num_processes and --process_id too")
    if FLAGS.process_id >= FLAGS.num_processes:
      raise BiglogitError(f"--process_id={FLAGS.process_id} with --num_processes={FLAGS.num_processes}; use an id "
                          f"from 0 to {FLAGS.num_processes - 1}")
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  else:
    jax.distributed.initialize()
  logging.info("process %d of %d, %d local / %d global devices", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())


def main(argv):
  del argv
  cli.check_config_file(("model", "train", "data", "eval"))
  host.use_every_cpu_core(FLAGS.config.train.global_batch)  # before JAX starts its backends
  host.enable_compilation_cache(FLAGS.compile_cache)
  from biglogit import train  # here, not at the top: the XLA_FLAGS above must be set before jax starts
  if not FLAGS.workdir.strip():
    raise BiglogitError("--workdir is empty; give the folder for checkpoints, logs and images")
  _maybe_initialize_distributed()
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir, FLAGS.allow_changed_resume)


if __name__ == "__main__":
  cli.run(main)
