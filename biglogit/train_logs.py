"""Training logs: metric accumulation between log points (clu.metrics), the TensorBoard + JSONL writers,
progress lines, and the summary a run prints when it ends. (Evaluation metrics live in
biglogit/evaluate/metrics.py.)"""
import json
import os
import sys
import time
from typing import Dict, Mapping

import numpy as np
from clu import metrics as clu_metrics
from etils import epath
from biglogit import files


def average_metrics(names):
  """A clu collection averaging each named scalar between log points (names: what the step returns,
  which depends on config.method)."""
  return clu_metrics.Collection.create(**{n: clu_metrics.Average.from_output(n) for n in sorted(names)})


def _clu_metric_writers():
  """clu.metric_writers' MultiWriter, AsyncWriter and MetricWriter interface, with or without TensorFlow.

  clu 0.0.12's package __init__ also imports its TensorFlow SummaryWriter, so without TensorFlow (the GPU
  hosts here) `import clu.metric_writers` fails after its TF-free submodules have loaded; those are the
  ones used here, taken from sys.modules. A TensorFlow host gets the package as it is."""
  try:
    from clu import metric_writers
    return metric_writers.MultiWriter, metric_writers.AsyncWriter, metric_writers.MetricWriter
  except ImportError as e:
    if "tensorflow" not in str(e):
      raise
    loaded = {name: sys.modules.get(f"clu.metric_writers.{name}")
              for name in ("multi_writer", "async_writer", "interface")}
    if None in loaded.values():
      raise
    return (loaded["multi_writer"].MultiWriter, loaded["async_writer"].AsyncWriter,
            loaded["interface"].MetricWriter)


MultiWriter, AsyncWriter, MetricWriter = _clu_metric_writers()


class _ScalarsAndImagesOnly(MetricWriter):
  """The rest of clu's MetricWriter interface, which training does not write: accepted and dropped."""

  def write_summaries(self, step, values, metadata=None):
    pass

  def write_videos(self, step, videos):
    pass

  def write_audios(self, step, audios, *, sample_rate):
    pass

  def write_texts(self, step, texts):
    pass

  def write_histograms(self, step, arrays, num_buckets=None):
    pass

  def write_hparams(self, hparams):
    pass


class JsonlWriter(_ScalarsAndImagesOnly):
  """One JSON object per line: {"step": s, name: value, ...}. Easy to read back in tests and pandas.
  Written on the training thread and flushed at once: the training loop's checks (a full disk) see
  its failures at the step that caused them, and readers of metrics.jsonl never wait.

  Object stores cannot append, so for a remote path the lines are kept and the file rewritten at
  each flush (logs are small: one line per log_every steps)."""

  def __init__(self, path: str):
    self._remote = files.is_remote(path)
    if self._remote:
      self._path = epath.Path(path)
      self._path.parent.mkdir(parents=True, exist_ok=True)
      self._lines = self._path.read_text().splitlines(keepends=True) if self._path.exists() else []
    else:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      self._f = open(path, "a")

  def write_scalars(self, step: int, scalars: Mapping[str, float]):
    line = json.dumps({"step": int(step), **{k: float(v) for k, v in scalars.items()}}) + "\n"
    if self._remote:
      self._lines.append(line)
    else:
      self._f.write(line)
    self.flush()

  def write_images(self, step, images):
    pass  # images go to PNG files and TensorBoard

  def flush(self):
    if self._remote:
      self._path.write_text("".join(self._lines))
    else:
      self._f.flush()

  def close(self):
    if not self._remote:
      self._f.close()


class TensorboardXWriter(_ScalarsAndImagesOnly):
  """TensorBoard event files without TensorFlow: the backend clu lacks (its SummaryWriter needs TF)."""

  def __init__(self, logdir: str):
    from tensorboardX import SummaryWriter
    self._w = SummaryWriter(logdir)

  def write_scalars(self, step, scalars):
    for k, v in scalars.items():
      self._w.add_scalar(k, float(v), int(step))

  def write_images(self, step, images: Mapping[str, np.ndarray]):
    for k, v in images.items():
      self._w.add_image(k, np.asarray(v), int(step), dataformats="HWC")

  def flush(self):
    self._w.flush()

  def close(self):
    self._w.close()


def _tensorboard_writer(logdir: str):
  try:  # clu's writer needs TensorFlow (the `tf` extra); GPU hosts usually lack it
    from clu import metric_writers
    return metric_writers.SummaryWriter(logdir)
  except ImportError:
    return TensorboardXWriter(logdir)


def create_writer(workdir: str, is_main_process: bool):
  """Process 0: metrics.jsonl (synchronous) and TensorBoard, whose event and image writes clu's
  AsyncWriter moves off the training thread (its errors surface at the next write or at close)."""
  if not is_main_process:
    return MultiWriter([])  # processes other than 0 write nothing
  return MultiWriter([JsonlWriter(os.path.join(workdir, "metrics.jsonl")),
                      AsyncWriter(_tensorboard_writer(os.path.join(workdir, "tensorboard")))])


def read_jsonl(path: str):
  """Rows of a JSON-lines file, local or on object storage."""
  return [json.loads(line) for line in epath.Path(path).read_text().splitlines() if line.strip()]


class Progress:
  """Throughput and ETA between log points. images_per_step counts real images consumed, as the
  benchmark does (global batch x D steps); `restart` after the first step keeps compilation out.
  `clock` (a training_loop.TrainClock), if given, is advanced by the training time of each report."""

  def __init__(self, total_steps: int, images_per_step: int, start_step: int, clock=None):
    self.total, self.batch, self.clock = total_steps, images_per_step, clock
    self.restart(start_step)

  def restart(self, step: int):
    self._t, self._step = time.time(), step

  def exclude(self, seconds: float):
    """Time the loop spent on something else (evaluation, image grids): not training throughput."""
    self._t += seconds

  def report(self, step: int) -> Dict[str, float]:
    now = time.time()
    dt, ds = max(now - self._t, 1e-9), step - self._step
    self._t, self._step = now, step
    steps_per_s = ds / dt
    eta = (self.total - step) / steps_per_s if steps_per_s > 0 else float("inf")
    rate = {"steps_per_s": steps_per_s, "images_per_s": steps_per_s * self.batch, "eta_s": eta}
    if self.clock is not None:
      self.clock.seconds += dt
      rate["train_hours"] = self.clock.hours
      if self.clock.budget_s:
        eta = min(eta, max(self.clock.budget_s - self.clock.seconds, 0.0))
        rate["eta_s"] = eta
    return rate

  @staticmethod
  def line(step, total, scalars, rate) -> str:
    losses = " ".join(f"{k}={v:.4f}" for k, v in sorted(scalars.items()))
    eta = rate["eta_s"]
    eta_str = f"{eta / 60:.1f}min" if np.isfinite(eta) else "?"
    trained = f" trained {rate['train_hours']:.2f}h" if "train_hours" in rate else ""
    return (f"step {step}/{total} {losses} | {rate['steps_per_s']:.2f} steps/s "
            f"{rate['images_per_s']:.1f} images/s{trained} ETA {eta_str}")


SUMMARY_METRICS = ("psnr", "phi_top1_agreement", "identifiability_accuracy", "retrieval_top1_feature_in_class",
                   "instance_gain_db")


def run_summary(workdir: str, step: int, num_steps: int, finished: bool = None, clock=None) -> str:
  """What the user looks at next: where the outputs are and the headline numbers (mean [95% CI],
  beside the class-mean baseline) of the final evaluation, else of the newest periodic one.
  finished: the run ended (its steps or its time budget done); None: step == num_steps."""
  root = epath.Path(workdir)
  finished = step == num_steps if finished is None else finished
  if finished and step < num_steps:
    done = f"finished step {step} (its time budget, train.budget_hours={clock.budget_s / 3600:g})"
  elif finished:
    done = f"finished step {step}"
  else:
    done = f"stopped at step {step} of {num_steps} (rerun to resume)"
  lines = [f"{done} in {workdir}", f"  checkpoints: {root / 'checkpoints'}"]
  if clock is not None and clock.seconds:
    lines.append(f"  training time: {clock.hours:.3f} h (without compilation and evaluations; summed over resumes)")
  images = sorted((root / "images").glob("step_*.png")) if (root / "images").exists() else []
  if images:
    lines.append(f"  image grids: {root / 'images'} (newest {images[-1].name})")
  evaluations = [root / "eval" / "metrics.json"] if (root / "eval" / "metrics.json").exists() else \
      sorted((root / "eval").glob("metrics_step_*.json")) if (root / "eval").exists() else []
  if evaluations:
    record = json.loads(files.read_pair(evaluations[-1], evaluations[-1].with_suffix(".md")))
    lines.append(f"  evaluation: {evaluations[-1].with_suffix('.md')} (step {record.get('step')}, "
                 f"{record.get('num_examples')} held-out examples)")
    baselines = record.get("baselines") or {}
    for name in SUMMARY_METRICS:
      m = record["metrics"].get(name)
      if m and m.get("mean") is not None:
        beside = [f"{label} {b[name]['mean']:.3f}" for label, b in
                  (("class-mean baseline", baselines.get("class_mean") or {}),
                   ("nearest logits", baselines.get("nearest_logits") or {}))
                  if (b.get(name) or {}).get("mean") is not None]
        lines.append(f"    {name} {m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
                     + ("   " + ", ".join(beside) if beside else ""))
  return "\n".join(lines)
