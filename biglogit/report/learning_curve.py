"""python -m biglogit.report.learning_curve RUN [RUN ...] --out=FIGURE.png [--metrics=a,b,...] [--logged]

Metric vs. training step from the periodic evaluations of training workdirs (eval/metrics_step_N.json,
written when eval.every > 0, plus the final eval/metrics.json), one panel per metric: each run a line
with its 95% bootstrap interval as a band, the trivial baselines stored in the records as horizontal
dashed lines, and the chance level as a dotted line. What a learning curve must show is whether and
when a run leaves its baselines behind.

--logged: the training log's scalars instead (metrics.jsonl, every log_every steps, no interval), e.g.
D's two terms: --logged --metrics=d_real_w1,d_real_w2z,d_fake_w1,d_fake_w2z
--each: one figure per run, OUT_RUN.png, each with only its own baselines (runs on different
classifiers' logits have different baselines, and five runs in one panel hide each other).
--x=hours: hours of training on the x axis instead of steps (the clock the log records as train_hours,
summed over resumes, without compilation or evaluations): runs of different step rates side by side.
"""
import glob
import os
import re
from typing import Dict, List, Sequence

from absl import flags

from biglogit import BiglogitError
from biglogit import cli
from biglogit import train_logs
from biglogit.evaluate import core

DEFAULT_METRICS = ("phi_top1_agreement", "identifiability_accuracy", "retrieval_top1_feature_in_class",
                   "instance_gain_db", "psnr", "fid")
# Drawn on a log axis: a trained run's FD sits near 1 while the constant and mean baselines' sit near 50,
# and on a linear axis the run's whole curve would be a flat line at the bottom.
LOG_SCALE_METRICS = ("fid", "kid")
_STEP_FILE = re.compile(r"metrics_step_(\d+)\.json$")


def load_curve(run_dir: str) -> List[Dict]:
  """The run's evaluation records sorted by step (the final metrics.json included when its step is
  not already there)."""
  paths = glob.glob(os.path.join(run_dir, "eval", "metrics_step_*.json"))
  final = os.path.join(run_dir, "eval", "metrics.json")
  records = {}
  for path in paths + ([final] if os.path.exists(final) else []):
    record = core.read_record(path)
    match = _STEP_FILE.search(path)
    step = int(match.group(1)) if match else record.get("step")
    if step is not None:
      records.setdefault(int(step), record)
  if not records:
    raise BiglogitError(f"{run_dir} has no eval/metrics_step_*.json: train it with --config.eval.every=N")
  # A step's training time: the log's, else the record's own (biglogit.evaluate of a checkpoint saved at
  # a stop, between two logged steps, records the clock saved with it).
  hours = {**{s: r["train_hours"] for s, r in records.items() if "train_hours" in r}, **logged_hours(run_dir)}
  return [dict(records[s], step=s, **({"train_hours": hours[s]} if s in hours else {})) for s in sorted(records)]


def logged_hours(run_dir: str) -> Dict[int, float]:
  """Step -> hours of training by then, from the training log (a resumed run's repeats: the last)."""
  path = os.path.join(run_dir, "metrics.jsonl")
  if not os.path.exists(path):
    return {}
  return {int(r["step"]): float(r["train_hours"]) for r in train_logs.read_jsonl(path)
          if "step" in r and "train_hours" in r}


def load_logged(run_dir: str) -> List[Dict]:
  """The training log (metrics.jsonl) as records of load_curve's shape, each value its own interval;
  a resumed run's repeated steps keep their last values."""
  path = os.path.join(run_dir, "metrics.jsonl")
  if not os.path.exists(path):
    raise BiglogitError(f"{run_dir} has no metrics.jsonl: pass the --workdir of a biglogit.main run")
  rows = {}
  for row in train_logs.read_jsonl(path):  # a step's training and evaluation scalars are separate rows
    if "step" in row:
      rows.setdefault(int(row["step"]), {}).update(row)
  point = lambda v: {"mean": v, "ci_low": v, "ci_high": v}
  return [{"step": s, "metrics": {k: point(v) for k, v in rows[s].items() if k != "step"},
           **({"train_hours": rows[s]["train_hours"]} if "train_hours" in rows[s] else {})} for s in sorted(rows)]


X_AXES = {"step": "training step", "hours": "hours of training"}


def plot(curves: Dict[str, List[Dict]], metrics: Sequence[str], path: str, x: str = "step") -> str:
  """curves: run name -> load_curve(...). Writes one PNG with a panel per metric; x: "step" or
  "hours" (each record's train_hours)."""
  if x not in X_AXES:
    raise BiglogitError(f"--x={x}; use one of {', '.join(X_AXES)}")
  x_of = (lambda r: r["step"]) if x == "step" else (lambda r: r["train_hours"])
  if x == "hours":
    for name, curve in curves.items():
      missing = [r["step"] for r in curve if "train_hours" not in r]
      if missing:
        raise BiglogitError(f"run {name} has no logged train_hours at step(s) {missing[:5]} (trained before "
                            "biglogit logged its training time); use --x=step")
  import matplotlib
  matplotlib.use("Agg")  # no display on training hosts
  import matplotlib.pyplot as plt

  present = [m for m in metrics if any(m in r["metrics"] for c in curves.values() for r in c)]
  if not present:
    raise BiglogitError(f"none of the metrics {', '.join(metrics)} is in these runs' evaluations")
  fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 3.6), squeeze=False)
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  baseline_colors = plt.get_cmap("Dark2").colors  # apart from the runs' colours
  for ax, metric in zip(axes[0], present):
    baselines_drawn = set()
    for i, (name, curve) in enumerate(curves.items()):
      points = [(x_of(r), r["metrics"][metric]) for r in curve if metric in r["metrics"]]
      if not points:
        continue
      steps = [s for s, _ in points]
      color = colors[i % len(colors)]
      ax.plot(steps, [v["mean"] for _, v in points], "o-", color=color, label=name, markersize=3)
      ax.fill_between(steps, [v["ci_low"] for _, v in points], [v["ci_high"] for _, v in points],
                      color=color, alpha=0.2)
      last = curve[-1]
      for kind, values in (last.get("baselines") or {}).items():
        key = (kind, last.get("dataset"))
        if metric in values and key not in baselines_drawn:
          baselines_drawn.add(key)
          ax.axhline(values[metric]["mean"], linestyle="--", linewidth=1,
                     color=baseline_colors[(len(baselines_drawn) - 1) % len(baseline_colors)],
                     label=f"{kind} [{last.get('dataset', '')}]")
      chance = last["metrics"].get(metric, {}).get("chance")
      if chance is not None and "chance" not in baselines_drawn:
        baselines_drawn.add("chance")
        ax.axhline(chance, linestyle=":", color="black", linewidth=1, label="chance")
    if metric in LOG_SCALE_METRICS:
      ax.set_yscale("log")
    ax.set_title(metric + (" (log axis)" if metric in LOG_SCALE_METRICS else ""), fontsize=10)
    ax.set_xlabel(X_AXES[x])
  handles, labels = axes[0][0].get_legend_handles_labels()
  for ax in axes[0][1:]:
    for h, l in zip(*ax.get_legend_handles_labels()):
      if l not in labels:
        handles.append(h)
        labels.append(l)
  fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
  fig.tight_layout(rect=(0, 0.08 + 0.04 * (len(labels) // 4), 1, 1))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def x_axis_for(curve: List[Dict]) -> str:
  """"hours" when every record of the curve has its training time, else "step"."""
  return "hours" if curve and all("train_hours" in r for r in curve) else "step"


def each_path(out: str, name: str) -> str:
  """--each's figure for run NAME: OUT's name with _NAME before the extension."""
  stem, ext = os.path.splitext(out)
  return f"{stem}_{name}{ext or '.png'}"


def table(curves: Dict[str, List[Dict]], metrics: Sequence[str], steps: Sequence[int]) -> str:
  """A markdown table of each run's metrics at the given steps (the figure's numbers)."""
  lines = ["| run | step | " + " | ".join(metrics) + " |", "|" + "---|" * (2 + len(metrics))]
  for name, curve in curves.items():
    by_step = {r["step"]: r["metrics"] for r in curve}
    for step in steps:
      if step in by_step:
        cells = [f"{by_step[step][m]['mean']:.3g}" if m in by_step[step] else "-" for m in metrics]
        lines.append(f"| {name} | {step} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def _interval(m) -> str:
  return f"{m['mean']:.3g} [{m['ci_low']:.3g}, {m['ci_high']:.3g}]"


def table_at_hours(curves: Dict[str, List[Dict]], metrics: Sequence[str], hours: Sequence[float],
                   tolerance: float = 0.1) -> str:
  """A markdown table of each run's evaluation nearest each number of training hours (runs on
  machines or recipes of different step rates compared at equal time), with intervals; a run with no
  evaluation within `tolerance` hours of one is left out of that row rather than shown at another time."""
  lines = ["| run | hours | step | " + " | ".join(metrics) + " |", "|" + "---|" * (3 + len(metrics))]
  for hour in hours:
    for name, curve in curves.items():
      timed = [r for r in curve if "train_hours" in r]
      if not timed:
        raise BiglogitError(f"run {name} logs no train_hours; use --table_steps")
      nearest = min(timed, key=lambda r: abs(r["train_hours"] - hour))
      if abs(nearest["train_hours"] - hour) > tolerance:
        continue
      cells = [_interval(nearest["metrics"][m]) if m in nearest["metrics"] else "-" for m in metrics]
      lines.append(f"| {name} | {nearest['train_hours']:.2f} | {nearest['step']} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


FIGURE_FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def _is_number(text: str) -> bool:
  try:
    return float(text) >= 0
  except ValueError:
    return False


def main(argv):
  def body():
    if len(argv) < 2:
      raise BiglogitError("give at least one training workdir: python -m biglogit.report.learning_curve RUN "
                          "[RUN ...] --out=FIGURE.png")
    load = load_logged if flags.FLAGS.logged else load_curve
    curves = {os.path.basename(os.path.normpath(d)): load(d) for d in argv[1:]}
    metrics = [m for m in flags.FLAGS.metrics.split(",") if m]
    if flags.FLAGS.each:  # one figure per run, each beside its own dataset's baselines
      for name, curve in curves.items():
        print(plot({name: curve}, metrics, each_path(flags.FLAGS.out, name), x=flags.FLAGS.x))
    else:
      print(plot(curves, metrics, flags.FLAGS.out, x=flags.FLAGS.x))
    if flags.FLAGS.table_steps:
      print(table(curves, metrics, [int(s) for s in flags.FLAGS.table_steps]))
    if flags.FLAGS.table_hours:
      print(table_at_hours(curves, metrics, [float(h) for h in flags.FLAGS.table_hours]))
  body()


if __name__ == "__main__":
  flags.DEFINE_string("out", "learning_curve.png", "Output PNG.")
  flags.DEFINE_string("metrics", ",".join(DEFAULT_METRICS), "Comma-separated metric names, a panel each.")
  flags.DEFINE_list("table_steps", [], "Also print a markdown table of the metrics at these steps.")
  flags.DEFINE_list("table_hours", [], "Also print a markdown table, with intervals, of each run's evaluation "
                    "nearest these hours of training (within 0.1 h), e.g. 0.5,1.0.")
  flags.DEFINE_enum("x", "step", list(X_AXES), "The x axis: training steps or hours of training.")
  flags.DEFINE_bool("each", False, "One figure per run (OUT's name with _RUN appended) instead of one "
                    "for all: each run beside only its own dataset's baselines.")
  flags.DEFINE_bool("logged", False, "Plot the training log's scalars (metrics.jsonl), not the evaluations.")
  flags.register_validator("out", lambda v: os.path.splitext(v)[1].lower() in FIGURE_FORMATS,
                           f"is not a figure file; end it in one of {', '.join(FIGURE_FORMATS)}")
  flags.register_validator("table_hours", lambda v: all(_is_number(h) for h in v),
                           "takes hours separated by commas, e.g. 0.5,1.0")
  flags.register_validator("table_steps", lambda v: all(s.strip().isdigit() for s in v),
                           "takes step numbers separated by commas, e.g. 1000,2000")
  cli.run(main)
