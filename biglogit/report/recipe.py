"""python -m biglogit.report.recipe ROOT --out=DIR [--reference=NAME]

The recipe comparison of launch/recipe_cifar10.sh: every training workdir under ROOT (candidates given
the same train.budget_hours) evaluated halfway and at the end on the same held-out images. Writes
DIR/recipe.md -- one row per candidate: its settings, the steps and images its hours bought, and the
judged metrics (mean [95% CI]) at both evaluations, marked + or - where the interval separates from
the reference candidate's; then the trivial baselines and chance -- and DIR/curves.png, each metric
against hours of training (report.learning_curve with x=hours). Prints the markdown.
"""
import glob
import json
import os
from typing import Dict

from absl import flags

from biglogit import BiglogitError
from biglogit import cli
from biglogit import files
from biglogit.report import learning_curve

METRICS = ("instance_gain_db", "retrieval_top1_feature_in_class", "identifiability_accuracy", "fid", "psnr")
LOWER_IS_BETTER = ("fid",)
BASELINES = ("nearest_logits", "class_mean", "mean", "constant")


def gather(root: str) -> Dict[str, Dict]:
  """{candidate: {"config": config.json, "curve": learning_curve.load_curve}} for ROOT's workdirs that
  reached a final evaluation."""
  runs = {}
  for final in sorted(glob.glob(os.path.join(root, "*", "eval", "metrics.json"))):
    run_dir = os.path.dirname(os.path.dirname(final))
    with open(os.path.join(run_dir, "config.json")) as f:
      config = json.load(f)
    runs[os.path.basename(run_dir)] = {"config": config, "curve": learning_curve.load_curve(run_dir)}
  if not runs:
    raise BiglogitError(f"{root} holds no RUN/eval/metrics.json: run launch/recipe_cifar10.sh first")
  return runs


def _cell(m, digits):
  return "-" if not m or m.get("mean") is None else \
      f"{m['mean']:.{digits}f} [{m['ci_low']:.{digits}f}, {m['ci_high']:.{digits}f}]"


def _versus(m, ref, metric) -> str:
  """'+' better than the reference, '-' worse, where the 95% intervals do not overlap."""
  if not m or not ref or m.get("mean") is None or ref.get("mean") is None:
    return ""
  sign = -1 if metric in LOWER_IS_BETTER else 1
  if m["ci_low"] > ref["ci_high"]:
    return " **+**" if sign > 0 else " **-**"
  if m["ci_high"] < ref["ci_low"]:
    return " **-**" if sign > 0 else " **+**"
  return ""


def markdown(runs: Dict[str, Dict], reference: str) -> str:
  if reference not in runs:
    raise BiglogitError(f"--reference={reference} is not among the runs ({', '.join(runs)})")
  ref_final = runs[reference]["curve"][-1]["metrics"]
  head = ["candidate", "ch G/D", "batch", "D steps", "DiffAugment", "steps", "images (k)", "hours", "at"]
  lines = ["| " + " | ".join(head + list(METRICS)) + " |", "|" + "---|" * (len(head) + len(METRICS))]
  for name, run in runs.items():
    c, curve = run["config"], run["curve"]
    t, m = c["train"], c["model"]
    for i, record in enumerate(curve):
      final = i == len(curve) - 1
      hours = record.get("train_hours")
      images = record["step"] * t["global_batch"] * t["d_steps"]
      cells = [name if i == 0 else "", f"{m['ch_g']}/{m['ch_d']}", str(t["global_batch"]), str(t["d_steps"]),
               t.get("diff_augment") or "-", str(record["step"]), f"{images / 1000:.0f}",
               "-" if hours is None else f"{hours:.3f}", "end" if final else "during"]
      for metric in METRICS:
        value = record["metrics"].get(metric)
        mark = _versus(value, ref_final.get(metric), metric) if final and name != reference else ""
        cells.append(_cell(value, 2 if metric in ("fid", "psnr", "instance_gain_db") else 3) + mark)
      lines.append("| " + " | ".join(cells) + " |")
  baselines = runs[reference]["curve"][-1].get("baselines") or {}
  for kind in BASELINES:
    if kind in baselines:
      cells = [f"baseline: {kind}"] + [""] * (len(head) - 1)
      cells += [_cell(baselines[kind].get(metric), 2 if metric in ("fid", "psnr", "instance_gain_db") else 3)
                for metric in METRICS]
      lines.append("| " + " | ".join(cells) + " |")
  chance = [ref_final.get(metric, {}).get("chance") for metric in METRICS]
  lines.append("| chance | " + " | " * (len(head) - 1) + " | ".join("-" if v is None else f"{v:.3g}" for v in chance) + " |")
  return "\n".join(lines) + (f"\n\n+ / -: the final evaluation's 95% interval lies above / below {reference}'s "
                             "(better / worse; lower FD is better); no mark: they overlap.\n")


def main(argv):
  if len(argv) != 2:
    raise BiglogitError("give the folder of candidate workdirs: python -m biglogit.report.recipe ROOT --out=DIR")
  runs = gather(argv[1])
  os.makedirs(flags.FLAGS.out, exist_ok=True)
  text = markdown(runs, flags.FLAGS.reference)
  files.atomic_write(os.path.join(flags.FLAGS.out, "recipe.md"), text)
  learning_curve.plot({name: run["curve"] for name, run in runs.items()}, METRICS,
                      os.path.join(flags.FLAGS.out, "curves.png"), x="hours")
  print(text)


if __name__ == "__main__":
  flags.DEFINE_string("out", "results/recipe", "Output folder: recipe.md and curves.png.")
  flags.DEFINE_string("reference", "ch8", "The candidate the others are marked against.")
  cli.run(main)
