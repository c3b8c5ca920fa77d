"""python -m biglogit.report.leakage ROOT --out=DIR [--metrics=a,b,...]

The training-free leakage table and figure of launch/leakage_cifar10.sh: ROOT/NAME/nearest_logits/
release=FORMAT/eval/metrics.json for every classifier NAME and release format, beside each classifier's
class-mean baseline (ROOT/NAME/class_mean) and chance. Writes DIR/leakage.md (one table per metric:
classifiers x formats, mean [95% CI]) and DIR/leakage_vs_format.png (one panel per metric, one line
per classifier, the intervals as error bars, chance dotted), and prints the markdown.
"""
import glob
import json
import os
from typing import Dict, List

from absl import flags

from biglogit import BiglogitError
from biglogit import cli
from biglogit import files

DEFAULT_METRICS = ("retrieval_top1_feature_in_class", "instance_gain_db", "identifiability_accuracy")
FORMAT_ORDER = ("full", "softmax", "topk:5", "top1", "rounded:2", "rounded:1")


def _read(path):
  with open(path) as f:
    return json.load(f)


def gather(root: str) -> Dict[str, Dict[str, dict]]:
  """{classifier: {format or "class_mean": record}}."""
  table = {}
  for path in sorted(glob.glob(os.path.join(root, "*", "nearest_logits", "release=*", "eval", "metrics.json"))):
    record = _read(path)
    name = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(path)))))
    table.setdefault(name, {})[record["settings"]["release"]] = record
  for name in table:
    class_mean = os.path.join(root, name, "class_mean", "eval", "metrics.json")
    if os.path.exists(class_mean):
      table[name]["class_mean"] = _read(class_mean)
  if not table:
    raise BiglogitError(f"{root} holds no NAME/nearest_logits/release=FORMAT/eval/metrics.json; run "
                        "launch/leakage_cifar10.sh first")
  return table


def _formats(table) -> List[str]:
  present = {f for rows in table.values() for f in rows if f != "class_mean"}
  return [f for f in FORMAT_ORDER if f in present] + sorted(present - set(FORMAT_ORDER))


def _cell(m, digits=3):
  if not m or m.get("mean") is None:
    return "-"
  return f"{m['mean']:.{digits}f} [{m['ci_low']:.{digits}f}, {m['ci_high']:.{digits}f}]"


def markdown(table, metrics) -> str:
  formats = _formats(table)
  out = []
  for metric in metrics:
    digits = 2 if metric.endswith("_db") else 3
    out += [f"### {metric}", "", "| classifier | " + " | ".join(formats) + " | class mean | chance |",
            "|---" * (len(formats) + 3) + "|"]
    for name, rows in table.items():
      cells = [_cell(rows.get(f, {}).get("metrics", {}).get(metric), digits) for f in formats]
      class_mean = _cell(rows.get("class_mean", {}).get("metrics", {}).get(metric), digits)
      any_record = next(iter(rows.values()))
      chance = any_record["metrics"].get(metric, {}).get("chance")
      out.append(f"| {name} | " + " | ".join(cells) + f" | {class_mean} | "
                 f"{'-' if chance is None else f'{chance:.{digits}f}'} |")
    out.append("")
  return "\n".join(out)


def figure(table, metrics, path: str):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  formats = _formats(table)
  fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4))
  axes = [axes] if len(metrics) == 1 else axes
  for ax, metric in zip(axes, metrics):
    chance = None
    for i, (name, rows) in enumerate(table.items()):
      xs, ys, lo, hi = [], [], [], []
      for j, f in enumerate(formats):
        m = rows.get(f, {}).get("metrics", {}).get(metric)
        if m and m.get("mean") is not None:
          xs.append(j + (i - len(table) / 2) * 0.04)  # side by side, so the bars do not hide each other
          ys.append(m["mean"])
          lo.append(m["mean"] - m["ci_low"])
          hi.append(m["ci_high"] - m["mean"])
          chance = m.get("chance", chance)
      ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=name)
    if chance is not None:
      ax.axhline(chance, color="grey", linestyle=":", label="chance")
    ax.set_xticks(range(len(formats)))
    ax.set_xticklabels(formats, rotation=30)
    ax.set_title(metric)
    ax.set_xlabel("release format (nearest neighbour searched in it)")
  axes[0].legend(fontsize=8)
  fig.tight_layout()
  tmp = files.unique_sibling(path, "png")
  fig.savefig(tmp, format="png", dpi=90)
  plt.close(fig)
  os.replace(tmp, path)
  return path


def main(argv):
  if len(argv) != 2:
    raise BiglogitError("give the leakage root: python -m biglogit.report.leakage ROOT --out=DIR")
  table = gather(argv[1])
  metrics = [m for m in flags.FLAGS.metrics.split(",") if m]
  os.makedirs(flags.FLAGS.out, exist_ok=True)
  text = markdown(table, metrics)
  files.atomic_write(os.path.join(flags.FLAGS.out, "leakage.md"), text)
  figure(table, metrics, os.path.join(flags.FLAGS.out, "leakage_vs_format.png"))
  print(text)


if __name__ == "__main__":
  flags.DEFINE_string("out", "results/leakage", "Output folder: leakage.md and leakage_vs_format.png.")
  flags.DEFINE_string("metrics", ",".join(DEFAULT_METRICS), "Comma-separated metric names, a table and a panel each.")
  cli.run(main)
