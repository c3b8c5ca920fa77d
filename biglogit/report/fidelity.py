"""python -m biglogit.report.fidelity --root=workdirs/fidelity --out=results/fidelity --intro=FILE [--extra=...]

The page of launch/fidelity_cifar10.sh: for each phi (logits dataset), every evaluated inverter and lever
(ROOT/RELEASE/ROW/eval/metrics.json), any --extra records (e.g. a DeePSiM release's metrics.json), and
the trivial baselines of the `plain` rows, as one table and one figure of instance gain (x) against the
stand-in FD (y), each with its 95% interval. A row "clears the bar" when its instance gain's interval
lies above the nearest-logits mean, its within-class pixel retrieval's interval reaches nearest logits'
interval, and its FD is at most 1.25x the label-only control's. Writes OUT/README.md (the --intro
file's text, then the tables) and OUT/gain_vs_fd_<dataset>.png.
"""
import glob
import os
from typing import Dict, List, Optional

from absl import flags

from biglogit import BiglogitError
from biglogit import cli
from biglogit import files
from biglogit.evaluate import core

COLUMNS = (("instance_gain_db", "instance gain (dB)"),
           ("retrieval_top1_pixel_in_class", "pixel retrieval (in class)"),
           ("retrieval_top1_feature_in_class", "feature retrieval (in class)"),
           ("identifiability_accuracy", "identifiable"),
           ("identifier_agrees_with_phi", "ResNet-56 names phi's class"),
           ("fid", "FD (stand-in)"), ("noise_std", "noise std"), ("phi_top1_agreement", "phi agrees*"))
ROW_ORDER = ("plain", "t1", "t0.5", "t0", "k4", "k16", "k64", "t1_k16", "t1_k64", "t0.5_k16", "r20", "k16_r20",
             "k64_r20")  # launch/fidelity_cifar10.sh's rows, cheapest lever first
FD_MARGIN = 1.25  # FD at most this times the label-only control's
BASELINE_ROWS = ("nearest_logits", "class_mean")


def _read(path: str) -> dict:
  return core.read_record(path)


def lever_flags(record: dict) -> str:
  """The evaluate flags that reproduce a row's levers (and its noise_std setting)."""
  s = record.get("inference") or {}
  out = []
  if s.get("truncation") is not None:
    out.append(f"--truncation={s['truncation']:g}")
  if s.get("best_of", 1) > 1:
    out.append(f"--best_of={s['best_of']}")
  if s.get("refine_steps", 0):
    out.append(f"--refine_steps={s['refine_steps']} --refine_lr={s['refine_lr']:g} "
               f"--refine_prior={s['refine_prior']:g}")
    if s.get("refine_offset"):
      out.append(f"--refine_offset --offset_prior={s['offset_prior']:g}")
  if record.get("method") == "gan" and "noise_std" not in record["metrics"]:
    out.append("--noise_samples=0")
  return " ".join(out)


def gather(root: str, extras: List[str]) -> Dict[str, List[dict]]:
  """{dataset: [row]}; a row: {name, record, kind ('lever' | 'control' | 'extra' | 'baseline')}."""
  groups: Dict[str, List[dict]] = {}
  for path in sorted(glob.glob(os.path.join(root, "*", "*", "eval", "metrics.json"))):
    record = _read(path)
    release, row = path.split(os.sep)[-4], path.split(os.sep)[-3]
    kind = "control" if "top-1" in str(record.get("release", "")) else "lever"
    groups.setdefault(record["dataset"], []).append(
        {"name": f"{release} [{row}]", "release": release, "row": row, "record": record, "kind": kind,
         "command": f"python -m biglogit.evaluate --workdir={record.get('workdir') or release} JUDGES "
                    f"{lever_flags(record)}".strip()})
    if row == "plain" and kind == "lever":
      for base in BASELINE_ROWS:
        if base in (record.get("baselines") or {}):
          groups[record["dataset"]].append(
              {"name": f"baseline: {base.replace('_', ' ')}", "release": release, "row": base, "kind": "baseline",
               "record": {"metrics": record["baselines"][base]}, "command": f"(beside {release} [plain])"})
  for path in extras:
    record = _read(path)
    groups.setdefault(record["dataset"], []).append(
        {"name": f"{record['run']} (step {record.get('step')})", "release": record["run"], "row": "release",
         "record": record, "kind": "extra", "command": f"its release's metrics.json ({path})"})
  if not groups:
    raise BiglogitError(f"no ROOT/RELEASE/ROW/eval/metrics.json under {root}; run launch/fidelity_cifar10.sh first")
  return groups


def _cell(m: Optional[dict]) -> str:
  if not m:
    return "-"
  return f"{m['mean']:.3g} [{m['ci_low']:.3g}, {m['ci_high']:.3g}]"


def nearest_logits(rows: List[dict]) -> Optional[dict]:
  return next((r["record"]["metrics"] for r in rows if r["kind"] == "baseline" and r["row"] == "nearest_logits"),
              None)


def clears_bar(row: dict, nearest: Optional[dict], control_fd: Optional[float]) -> str:
  """'yes' / what it misses, against nearest logits (same images) and the control's FD."""
  if row["kind"] not in ("lever", "extra") or not nearest:
    return ""
  m = row["record"]["metrics"]
  misses = []
  if m["instance_gain_db"]["ci_low"] <= nearest["instance_gain_db"]["mean"]:
    misses.append("gain")
  if m["retrieval_top1_pixel_in_class"]["ci_high"] < nearest["retrieval_top1_pixel_in_class"]["ci_low"]:
    misses.append("pixel retrieval")
  if control_fd is None or "fid" not in m:
    misses.append("FD unknown")
  elif m["fid"]["mean"] > FD_MARGIN * control_fd:
    misses.append("FD")
  return "yes" if not misses else "no: " + ", ".join(misses)


def table(dataset: str, rows: List[dict], control_fd: Optional[float]) -> List[str]:
  nearest = nearest_logits(rows)
  head = ["row", "levers"] + [label for _, label in COLUMNS] + ["clears the bar"]
  lines = [f"### {dataset}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  order = {"lever": 0, "extra": 1, "control": 2, "baseline": 3}
  rank = lambda row: ROW_ORDER.index(row) if row in ROW_ORDER else len(ROW_ORDER)
  for r in sorted(rows, key=lambda r: (order[r["kind"]], r["release"], rank(r["row"]), r["row"])):
    m = r["record"]["metrics"]
    levers = (r["record"].get("inference") or {}).get("described", "-") if r["kind"] != "baseline" else "-"
    lines.append("| " + " | ".join([r["name"], levers] + [_cell(m.get(k)) for k, _ in COLUMNS] +
                                    [clears_bar(r, nearest, control_fd)]) + " |")
  return lines


def figure(path: str, dataset: str, rows: List[dict], control_fd: Optional[float]):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(8, 5.5))
  style = {"lever": ("o", None), "extra": ("s", "tab:purple"), "control": ("D", "black"), "baseline": ("^", "grey")}
  for r in rows:
    m = r["record"]["metrics"]
    if "fid" not in m or "instance_gain_db" not in m:
      continue
    g, f = m["instance_gain_db"], m["fid"]
    marker, colour = style[r["kind"]]
    ax.errorbar(g["mean"], f["mean"], xerr=[[g["mean"] - g["ci_low"]], [g["ci_high"] - g["mean"]]],
                yerr=[[f["mean"] - f["ci_low"]], [f["ci_high"] - f["mean"]]], fmt=marker, color=colour,
                capsize=2, markersize=5)
    label = r["row"] if r["kind"] == "lever" else r["name"]
    if r["kind"] == "lever" and not r["release"] in label:
      label = f"{r['release'].replace('_gan', '').replace('_cpu', '')}: {r['row']}"
    ax.annotate(label, (g["mean"], f["mean"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
  nearest = nearest_logits(rows)
  if nearest:
    ax.axvline(nearest["instance_gain_db"]["mean"], color="grey", linestyle="--", linewidth=0.8)
  if control_fd:
    ax.axhline(FD_MARGIN * control_fd, color="black", linestyle=":", linewidth=0.8)
  ax.set_yscale("log")
  ax.set_xlabel("instance gain (dB), 95% interval")
  ax.set_ylabel("FD, ResNet-56 stand-in (log), 95% interval")
  ax.set_title(f"{dataset}: dashed = nearest-logits gain, dotted = {FD_MARGIN}x the control's FD", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=130)
  plt.close(fig)


def control_fd_of(groups: Dict[str, List[dict]]) -> Optional[float]:
  """The label-only control's FD (one control serves every phi: the only one released)."""
  for rows in groups.values():
    for r in rows:
      if r["kind"] == "control" and "fid" in r["record"]["metrics"]:
        return r["record"]["metrics"]["fid"]["mean"]
  return None


def report(root: str, out: str, extras: List[str], intro: str = "") -> str:
  groups = gather(root, extras)
  intro_text = open(intro).read().rstrip() + "\n\n" if intro else ""
  control_fd = control_fd_of(groups)
  os.makedirs(out, exist_ok=True)
  lines = [f"Every row on the first 1000 CIFAR-10 test images; mean [95% interval]. *phi agrees: a lever that "
           f"optimises phi-consistency makes phi an unfair judge of itself. Control FD (label-only, "
           f"resnet4b_gan_top1): {control_fd:.3g}." if control_fd else "", ""]
  for dataset, rows in sorted(groups.items()):
    if all(r["kind"] in ("control",) for r in rows):
      continue
    figure(os.path.join(out, f"gain_vs_fd_{dataset}.png"), dataset, rows, control_fd)
    lines += table(dataset, rows, control_fd)
    lines += ["", f"![instance gain vs FD, {dataset}](gain_vs_fd_{dataset}.png)", "",
              "Commands (JUDGES = the judge flags in launch/fidelity_cifar10.sh):", ""]
    lines += [f"- {r['name']}: `{r['command']}`" for r in rows if r["kind"] in ("lever", "control")] + [""]
  text = intro_text + "\n".join(lines)
  files.atomic_write(os.path.join(out, "README.md"), text)
  return text


def main(argv):
  del argv
  F = flags.FLAGS
  print(report(F.root, F.out, F.extra or [], F.intro))


if __name__ == "__main__":
  flags.DEFINE_string("root", "workdirs/fidelity", "OUTROOT of launch/fidelity_cifar10.sh.")
  flags.DEFINE_string("out", "results/fidelity", "Folder of the page.")
  flags.DEFINE_multi_string("extra", None, "A metrics.json to add (e.g. a release's), grouped by its dataset.")
  flags.DEFINE_string("intro", "", "A markdown file of findings placed above the tables.")
  cli.run(main)
