"""The training skeleton both trainers share -- the GAN's (train.py) and the classifier's
(classifiers/fit.py): the donated jitted step over the state's shardings (sharding.sharded_abstract),
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
  draws do not depend on how a computation is partitioned; tested), from a program XLA compiles faster
  without SPMD partitioning (docs/performance.md#the-state-init-on-one-device-and-xlas-fast_compile-preset-for-the-tests-2026-11-30-later).
  Across processes every process must take part, so it is compiled for the mesh."""
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


class _Metrics:
  """The steps' metrics, left on device until something needs them on the host (asynchronous dispatch
  keeps a GPU/TPU busy): fetched, checked finite and averaged at log, periodic-work and checkpoint steps."""

  def __init__(self, loop: Loop):
    self._loop = loop
    self._pending = []  # (step, metrics on device)
    self._averaged = None

  def add(self, step: int, metrics):
    self._pending.append((step, metrics))

  def fetch_and_check(self):
    """The only host synchronisation of the loop besides its first step."""
    steps = [s for s, _ in self._pending]
    for at_step, host in zip(steps, jax.device_get([m for _, m in self._pending])):
      bad = [k for k, v in host.items() if not np.isfinite(v)]
      if bad:
        raise BiglogitError(f"non-finite {', '.join(bad)} at step {at_step}; stopped without saving, "
                            f"the last good checkpoint (step {self._loop.checkpointer.latest_step()}) is intact; "
                            f"the data was finite, so training diverged: {self._loop.divergence_advice}")
      update = train_logs.average_metrics(host).single_from_model_output(**host)
      self._averaged = update if self._averaged is None else self._averaged.merge(update)
    self._pending = []

  def take_averages(self) -> Dict[str, float]:
    averages, self._averaged = {k: float(v) for k, v in self._averaged.compute().items()}, None
    return averages


def _log(loop: Loop, metrics: _Metrics, progress, step: int, last: bool) -> bool:
  """Writes the averaged metrics and the rate since the last log; returns whether this step is the
  run's last, which the training-time budget can decide here (the clock advances at log steps)."""
  metrics.fetch_and_check()
  scalars = metrics.take_averages()
  rate = progress.report(step)
  last = last or _agreed(loop.clock.out_of_time)
  loop.writer.write_scalars(step, {**scalars, **rate})
  logging.info(train_logs.Progress.line(step, loop.num_steps, scalars, rate))
  if last and step < loop.num_steps:
    logging.info("training time budget of %.2f h spent at step %d: the run ends here",
                 loop.clock.budget_s / 3600, step)
  return last


def _run_periodic(loop: Loop, due: Sequence[Periodic], state, step: int, progress):
  aside = time.time()
  for work in due:
    scalars = work.run(state, step)
    if scalars:
      loop.writer.write_scalars(step, scalars)
  progress.exclude(time.time() - aside)  # the logged images/s are training's alone


def _checkpoint(loop: Loop, state, step: int):
  if not checkpointing.all_finite(state):  # the metrics can be finite while a parameter is not
    raise BiglogitError(f"non-finite parameters or statistics at step {step} (the logged losses were finite); "
                        f"stopped without saving, the last good checkpoint (step "
                        f"{loop.checkpointer.latest_step()}) is intact; {loop.divergence_advice}")
  loop.checkpointer.save(step, state, loop.data_iterator, loop.clock.saved())


def _stop_on_full_disk(loop: Loop, error: Exception, step: int):
  """A full disk under a log, image or evaluation write: one line, not a traceback."""
  if not files.disk_full(error):
    raise error
  try:
    loop.checkpointer.close()
  except BiglogitError:
    pass
  raise BiglogitError(f"no space left on the device at step {step}: stopped; the newest complete checkpoint "
                      f"(step {loop.checkpointer.latest_step()}) is intact; free space, then rerun to resume") from error


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
  metrics = _Metrics(loop)
  with StopRequested() as stop:
    try:
      while step < loop.num_steps:
        state, step_metrics = step_fn(state, first_batch if step == start else loop.next_batch(step + 1))
        step += 1
        metrics.add(step, step_metrics)
        last = step == loop.num_steps
        if step == start + 1 and step % loop.log_every and not last:
          jax.block_until_ready(step_metrics)
          progress.restart(step)  # the first step of a process includes compilation
        if step % loop.log_every == 0 or last:
          last = _log(loop, metrics, progress, step, last)
        due = [p for p in loop.periodic if p.due(step, last)]
        # Read once per step: a SIGTERM that lands between two reads (say, while this step logs)
        # would otherwise end the loop below without the checkpoint it asked for.
        stopping = stop.requested
        at_checkpoint = step % loop.checkpoint_every == 0 or last or stopping
        if due or at_checkpoint:
          metrics.fetch_and_check()
        _run_periodic(loop, due, state, step, progress)
        if at_checkpoint:
          _checkpoint(loop, state, step)
        if stopping or last:
          break
    except BiglogitError:
      loop.checkpointer.close()  # lets an in-flight checkpoint finish; nothing later is written
      raise
    except Exception as e:
      _stop_on_full_disk(loop, e, step)
  return state, step
