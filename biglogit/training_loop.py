"""The training skeleton both trainers share -- the GAN's (train.py) and the classifier's
(classifiers/train.py): the donated jitted step over the state's shardings (sharding.sharded_abstract),
restore-or-init, and the loop with its logging, checkpoints, SIGTERM stop and NaN policy. Each
trainer supplies its state, its step and its data (a Grain iterator)."""
import dataclasses
import signal
import time
from typing import Any, Callable, Dict, Sequence

import jax
import numpy as np
from absl import logging

from biglogit import BiglogitError
from biglogit import checkpointing
from biglogit import files
from biglogit import sharding
from biglogit import train_logs


def shardings_of(abstract):
  return jax.tree_util.tree_map(lambda s: s.sharding, abstract)


def jit_step(step_fn: Callable, abstract, batch_sharding, mesh, num_aux: int = 0):
  """step_fn(state, batch, *aux) -> (state, metrics), jitted: the state donated (updated in place)
  and kept in its shardings, the batch split as `batch_sharding` says, aux and metrics replicated."""
  state_sharding = shardings_of(abstract)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return jax.jit(step_fn, in_shardings=(state_sharding, batch_sharding) + (replicated,) * num_aux,
                 out_shardings=(state_sharding, replicated), donate_argnums=0)


def jit_init(init_fn: Callable, abstract):
  """init_fn(key) jitted to build the state in the abstract state's shardings. In one process it is
  compiled for a single device and the result copied into the shardings: the same values (threefry
  draws do not depend on how a computation is partitioned; tested), from a program XLA compiles
  without SPMD partitioning, which is where the compile-time options of the tests apply (the tiny
  GAN's init: 25 s sharded over 8 CPU devices, 21 s for one, 14 s for one with XLA's FAST_COMPILE
  preset). Across processes every process must take part, so it is compiled for the mesh."""
  state_sharding = shardings_of(abstract)
  if jax.process_count() > 1:
    return jax.jit(init_fn, out_shardings=state_sharding)
  on_one_device = jax.jit(init_fn)
  return lambda key: jax.device_put(on_one_device(key), state_sharding)


@dataclasses.dataclass
class TrainClock:
  """Seconds spent training so far, summed over every start and resume of the run (saved with each
  checkpoint): the x axis of learning curves across interruptions and machines. Compilation,
  evaluations and image grids are not counted. budget_s > 0 ends the run, as finished, at the first
  log step past it: runs compared at equal training time rather than equal steps."""
  seconds: float = 0.0
  budget_s: float = 0.0

  @property
  def hours(self) -> float:
    return self.seconds / 3600

  @property
  def out_of_time(self) -> bool:
    return bool(self.budget_s) and self.seconds >= self.budget_s

  def saved(self) -> Dict[str, float]:
    return {"train_seconds": self.seconds}


def restore_or_init(checkpointer: checkpointing.Checkpointer, abstract, init: Callable, seed: int,
                    data_iterator, clock: TrainClock = None):
  """The newest checkpoint's state (verified; `data_iterator` moved to where it was, `clock` to its
  training time), else init(key(seed)) -- the jitted init, whose output shardings are the abstract state's."""
  latest = checkpointer.latest_step()
  if latest is None:
    return init(jax.random.key(seed))
  state = checkpointer.restore(latest, abstract, data_iterator)
  if clock is not None:
    clock.seconds = float(checkpointer.restore_progress(latest).get("train_seconds", 0.0))
  logging.info("resumed from step %d in %s", latest, checkpointer.directory.parent)
  return state


@dataclasses.dataclass
class Periodic:
  """Work between steps that reads the state (image grids, evaluations): due(step, last) says at
  which steps, run(state, step) does it and returns scalars to log. Its time is kept out of the
  logged throughput, and it only ever sees a state whose metrics were checked finite."""
  due: Callable[[int, bool], bool]
  run: Callable[[Any, int], Dict[str, float]]


class StopRequested:
  """SIGTERM (TPU VM / SLURM preemption notice) and SIGINT (Ctrl-C) ask the loop to checkpoint and exit
  cleanly. A second Ctrl-C interrupts at once (the checkpoint of the step in flight is then lost)."""
  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.requested = False
    self._previous = {}

  def __enter__(self):
    try:
      self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    except ValueError:  # not the main thread (e.g. a notebook worker): no handler
      self._previous = {}
    return self

  def _handle(self, signum, frame):
    if signum == signal.SIGINT and self.requested:
      raise KeyboardInterrupt
    logging.warning("%s received: checkpointing and exiting%s", signal.Signals(signum).name,
                    " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else "")
    self.requested = True

  def __exit__(self, *exc):
    for s, previous in self._previous.items():
      signal.signal(s, previous)


@dataclasses.dataclass
class Loop:
  """What a trainer hands the loop. compile_step(state, first_batch) returns the step, compiled
  for these inputs, as a callable (state, batch) -> (state, metrics on device); next_batch(step)
  returns the global batch of (1-based) `step` from `data_iterator`, which checkpoints save."""
  compile_step: Callable
  next_batch: Callable[[int], Any]
  data_iterator: Any
  checkpointer: checkpointing.Checkpointer
  writer: Any
  num_steps: int
  examples_per_step: int
  log_every: int
  checkpoint_every: int
  divergence_advice: str  # what to change when the metrics or the state turn non-finite
  periodic: Sequence[Periodic] = ()
  clock: TrainClock = dataclasses.field(default_factory=TrainClock)


def _agreed(flag: bool) -> bool:
  """Process 0's value on every process: a decision from its clock, which the others' differ from."""
  if jax.process_count() == 1:
    return flag
  from jax.experimental import multihost_utils
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))


def run(loop: Loop, state):
  """Steps from state.step to loop.num_steps, or until loop.clock's budget is spent (then the last
  step is treated as the run's last: final images, evaluation and checkpoint); returns (state, last
  step). Stops early, after a checkpoint, on SIGTERM. A non-finite metric or state stops it before
  any later checkpoint, image or evaluation of that state, with the last good checkpoint intact."""
  start = step = int(state.step)
  if start >= loop.num_steps or loop.clock.out_of_time:
    return state, step
  progress = train_logs.Progress(loop.num_steps, loop.examples_per_step, start, loop.clock)
  # Compiled ahead of the loop, then every process waits for the others: a process that hit the
  # compilation cache must not enter the step's first collective while another is still compiling.
  first_batch = loop.next_batch(start + 1)
  step_fn = loop.compile_step(state, first_batch)
  sharding.wait_for_every_process(f"biglogit/step_compiled/{start}")
  checkpointer = loop.checkpointer
  pending = []  # (step, metrics still on device): fetched at log, periodic and checkpoint steps
  accumulated = None

  def fetch_and_check():
    """The only host synchronisation of the loop besides the first step: per-step metrics stay on
    device (asynchronous dispatch keeps a GPU/TPU busy) until something needs the state on the host."""
    nonlocal pending, accumulated
    for at_step, host_metrics in zip([s for s, _ in pending], jax.device_get([m for _, m in pending])):
      bad = [k for k, v in host_metrics.items() if not np.isfinite(v)]
      if bad:
        raise BiglogitError(f"non-finite {', '.join(bad)} at step {at_step}; stopped without saving, "
                            f"the last good checkpoint (step {checkpointer.latest_step()}) is intact; "
                            f"the data was finite, so training diverged: {loop.divergence_advice}")
      update = train_logs.average_metrics(host_metrics).single_from_model_output(**host_metrics)
      accumulated = update if accumulated is None else accumulated.merge(update)
    pending = []

  with StopRequested() as stop:
    try:
      while step < loop.num_steps:
        batch = first_batch if step == start else loop.next_batch(step + 1)
        state, step_metrics = step_fn(state, batch)
        step += 1
        pending.append((step, step_metrics))
        last = step == loop.num_steps
        if step == start + 1 and step % loop.log_every and not last:
          jax.block_until_ready(step_metrics)
          progress.restart(step)  # the first step of a process includes compilation
        at_log = step % loop.log_every == 0 or last
        if at_log:
          fetch_and_check()
          scalars = {k: float(v) for k, v in accumulated.compute().items()}
          rate = progress.report(step)  # advances the clock (the time since the last log point)
          last = last or _agreed(loop.clock.out_of_time)
          loop.writer.write_scalars(step, {**scalars, **rate})
          logging.info(train_logs.Progress.line(step, loop.num_steps, scalars, rate))
          if last and step < loop.num_steps:
            logging.info("training time budget of %.2f h spent at step %d: the run ends here",
                         loop.clock.budget_s / 3600, step)
          accumulated = None
        due = [p for p in loop.periodic if p.due(step, last)]
        # Read once per step: a SIGTERM that lands between two reads (say, while this step logs)
        # would otherwise end the loop below without the checkpoint it asked for.
        stopping = stop.requested
        at_checkpoint = step % loop.checkpoint_every == 0 or last or stopping
        if due or at_checkpoint:
          fetch_and_check()
        aside = time.time()
        for work in due:
          scalars = work.run(state, step)
          if scalars:
            loop.writer.write_scalars(step, scalars)
        progress.exclude(time.time() - aside)  # the logged images/s are training's alone
        if at_checkpoint:
          if not checkpointing.all_finite(state):  # the metrics can be finite while a parameter is not
            raise BiglogitError(f"non-finite parameters or statistics at step {step} (the logged losses "
                                f"were finite); stopped without saving, the last good checkpoint (step "
                                f"{checkpointer.latest_step()}) is intact; {loop.divergence_advice}")
          checkpointer.save(step, state, loop.data_iterator, loop.clock.saved())
        if stopping or last:
          break
    except BiglogitError:
      checkpointer.close()  # lets an in-flight checkpoint finish; nothing later is written
      raise
    except Exception as e:  # a full disk under a log, image or evaluation write: one line, not a traceback
      if not files.disk_full(e):
        raise
      try:
        checkpointer.close()
      except BiglogitError:
        pass
      raise BiglogitError(f"no space left on the device at step {step}: stopped; the newest complete "
                          f"checkpoint (step {checkpointer.latest_step()}) is intact; free space, then rerun "
                          "to resume") from e
  return state, step
