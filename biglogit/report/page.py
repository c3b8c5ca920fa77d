"""python -m biglogit.report RUN [RUN ...] --out=DIR [--learning_curve=WORKDIR,WORKDIR]

Gathers each run's eval/metrics.json and experiments/*/ (JSON numbers + PNG figures) into one page,
DIR/README.md and DIR/index.html, with the figures copied to DIR/figures/. The metrics table puts
the runs side by side (mean [95% CI]), so robust vs standard vs baselines reads at a glance.
"""
import glob
import html
import json
import os
import re
import shutil
from typing import Dict, List

from absl import flags

from biglogit import BiglogitError
from biglogit.report import learning_curve
from biglogit import cli
from biglogit import files
from biglogit.evaluate import core

HEADLINE_METRICS = ("psnr", "ssim", "phi_top1_agreement", "logit_cosine", "logit_l2",
                    "identifiability_accuracy", "identifier_agrees_with_phi", "robust_feature_relative_l2",
                    "retrieval_top1_pixel", "retrieval_top1_pixel_in_class", "retrieval_top1_feature",
                    "retrieval_top1_feature_in_class", "instance_gain_db", "fid", "kid", "noise_std")


def fmt(value) -> str:
  """A {mean, ci_low, ci_high} dict as 'mean [lo, hi]'; numbers to 4 significant digits."""
  if isinstance(value, dict) and "mean" in value:
    return f"{value['mean']:.4g} [{value['ci_low']:.4g}, {value['ci_high']:.4g}]"
  if isinstance(value, float):
    return f"{value:.4g}"
  return "" if value is None else str(value)


class Page:
  """Blocks rendered both as markdown and as HTML."""

  def __init__(self):
    self.blocks: List[tuple] = []

  def heading(self, level: int, text: str):
    self.blocks.append(("h", level, text))

  def text(self, text: str):
    self.blocks.append(("p", text))

  def table(self, header: List[str], rows: List[List[str]]):
    if rows:
      self.blocks.append(("table", header, rows))

  def image(self, path: str, caption: str):
    self.blocks.append(("img", path, caption))

  def markdown(self) -> str:
    out = []
    for b in self.blocks:
      if b[0] == "h":
        out.append("#" * b[1] + " " + b[2])
      elif b[0] == "p":
        out.append(b[1])
      elif b[0] == "table":
        out.append("| " + " | ".join(b[1]) + " |")
        out.append("|" + "---|" * len(b[1]))
        out += ["| " + " | ".join(r) + " |" for r in b[2]]
      elif b[0] == "img":
        out.append(f"![{b[2]}]({b[1]})")
      out.append("")
    return "\n".join(out)

  def html(self, title: str) -> str:
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
           "body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{image-rendering:pixelated;"
           "max-width:100%}</style></head><body>"]
    for b in self.blocks:
      if b[0] == "h":
        out.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
      elif b[0] == "p":
        out.append(f"<p>{e(b[1])}</p>")
      elif b[0] == "table":
        out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b[1]) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in b[2]]
        out.append("</table>")
      elif b[0] == "img":
        out.append(f"<figure><img src='{e(b[1])}'><figcaption>{e(b[2])}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def load_report_run(run_dir: str) -> Dict:
  if not os.path.isdir(run_dir):
    raise BiglogitError(f"run folder {run_dir} does not exist")
  metrics_path = os.path.join(run_dir, "eval", "metrics.json")
  record = None
  if os.path.exists(metrics_path):
    record = core.read_record(metrics_path)
  experiments = {}
  for path in sorted(glob.glob(os.path.join(run_dir, "experiments", "*", "*.json"))):
    data = files.read_json(path, "run that experiment again to rewrite it")
    if not isinstance(data, dict):
      raise BiglogitError(f"{path} is not an experiment's record; run that experiment again to rewrite it")
    experiments[os.path.basename(os.path.dirname(path))] = (data, os.path.dirname(path))
  if record is None and not experiments:
    raise BiglogitError(f"{run_dir} has neither eval/metrics.json nor experiments/; run "
                        "python -m biglogit.evaluate --workdir=RUN (and experiments) first")
  name = (record or {}).get("run") or os.path.basename(os.path.normpath(run_dir))
  return {"dir": run_dir, "name": name, "record": record, "experiments": experiments}


def _experiment_rows(name: str, data: Dict) -> (List[str], List[List[str]]):
  """A compact numbers table per experiment (the full numbers stay in the JSON)."""
  if name == "grid":
    return ["run", "PSNR (shown images)", "SSIM"], [
        [k, fmt(sum(v["psnr"]) / len(v["psnr"])), fmt(sum(v["ssim"]) / len(v["ssim"]))]
        for k, v in data["per_run"].items()]
  if name == "noise":
    return ["K", "noise std"], [[str(data["num_samples"]), fmt(data["noise_std"])]]
  if name in ("misclassified", "ood"):
    keys = ("psnr", "ssim", "phi_top1_agreement", "identifiability_accuracy")
    return ["group", "n"] + list(keys), [
        [g, str(v["count"])] + [fmt(v["metrics"].get(k)) for k in keys] for g, v in data["groups"].items()]
  if name == "adversarial":
    keys = ("attack_success", "follows_adversarial", "follows_true", "psnr_vs_original",
            "psnr_vs_clean_reconstruction")
    return ["eps (/255)"] + list(keys), [[fmt(r["eps_255"])] + [fmt(r.get(k)) for k in keys]
                                         for r in data["per_eps"]]
  if name == "logit_edits":
    keys = ("psnr_vs_original", "pixel_change_vs_unedited", "max_softmax_change",
            "phi_agrees_with_original_class")
    return ["edit", "value"] + list(keys), [[kind, fmt(r["value"])] + [fmt(r.get(k)) for k in keys]
                                            for kind, rows in data["results"].items() for r in rows]
  if name == "invariance":
    keys = ("prediction_kept", "logit_cosine", "transform_visible", "psnr_vs_transformed",
            "psnr_vs_untransformed_reconstruction")
    return ["transform"] + list(keys), [[t] + [fmt(r.get(k)) for k in keys]
                                        for t, r in data["transforms"].items()]
  if name == "optimize":
    h = data["history"]
    return ["steps", "objective start → end", "logit distance start → end"], [
        [str(len(h["objective"])), f"{h['objective'][0]:.4g} → {h['objective'][-1]:.4g}",
         f"{h['logit_distance'][0]:.4g} → {h['logit_distance'][-1]:.4g}"]]
  return [], []


def metric_rows(evaluated: List[Dict], present: List[str]) -> List[List[str]]:
  """One row per run, then the baselines stored in their records (once per dataset and size), then
  the chance levels (several values joined by ' / ' where the runs' example sets differ)."""
  rows, seen, chance = [], set(), {}
  for r in evaluated:
    rec = r["record"]
    rows.append([r["name"], rec.get("method", ""), rec.get("release", ""), str(rec.get("step", "")),
                 str(rec["num_examples"])] + [fmt(rec["metrics"].get(m)) for m in present])
    for m in present:
      if "chance" in rec["metrics"].get(m, {}):
        chance.setdefault(m, []).append(f"{rec['metrics'][m]['chance']:.3g}")
  for r in evaluated:
    rec = r["record"]
    for kind, metrics in (rec.get("baselines") or {}).items():
      key = (kind, rec.get("dataset"), rec["num_examples"])
      if key in seen:
        continue
      seen.add(key)
      rows.append([f"baseline: {kind} [{rec.get('dataset', '')}]", "baseline", "", "",
                   str(rec["num_examples"])] + [fmt(metrics.get(m)) for m in present])
  if chance:
    rows.append(["chance", "", "", "", ""] + [" / ".join(dict.fromkeys(chance.get(m, []))) or "-"
                                              for m in present])
  return rows


def build(run_dirs: List[str], out: str, title: str = "biglogit report", intro: str = "",
          curve_runs: List[str] = ()) -> str:
  """intro: markdown paragraphs placed under the title (the reader's summary of the findings).
  curve_runs: training workdirs whose periodic evaluations become a learning-curve figure."""
  previous = check_out(out)  # the output, then all inputs, checked before anything is written
  runs = [load_report_run(d) for d in run_dirs]
  curves = {os.path.basename(os.path.normpath(d)): learning_curve.load_curve(d) for d in curve_runs}
  figures_dir = os.path.join(out, "figures")
  os.makedirs(figures_dir, exist_ok=True)
  written = []
  page = Page()
  page.heading(1, title)
  for paragraph in filter(None, (p.strip() for p in intro.split("\n\n"))):
    page.text(paragraph)
  evaluated = [r for r in runs if r["record"]]
  if evaluated:
    present = [m for m in HEADLINE_METRICS if any(m in r["record"]["metrics"] for r in evaluated)]
    page.heading(2, "Held-out metrics (mean [95% bootstrap CI])")
    page.text("Rows 'baseline: KIND [dataset]' are the trivial inverters of biglogit/evaluate/trivial_inverters.py "
              "scored on the same examples as the runs on that dataset; the 'chance' row is what an output "
              "that ignores the instance scores. A claim needs its interval clear of both.")
    page.table(["run", "method", "release", "step", "n"] + present, metric_rows(evaluated, present))
    used = sorted({f"{k}: {v}" for r in evaluated for k, v in r["record"].get("networks", {}).items() if v})
    for line in used:
      page.text(f"- {line}")
  if curves:
    page.heading(2, "Learning curves")
    page.text("Each run's periodic evaluation (eval.every) on the held-out examples, mean with its 95% "
              "interval as a band; dashed lines: the trivial baselines on the same examples; dotted: chance.")
    for name, curve in curves.items():  # one figure per run, beside its own dataset's baselines
      figure = f"figures/learning_curve_{safe_name(name)}.png"
      x = learning_curve.x_axis_for(curve)
      learning_curve.plot({name: curve}, learning_curve.DEFAULT_METRICS, os.path.join(out, figure), x=x)
      written.append(figure)
      page.image(figure, f"{name}: metric vs {learning_curve.X_AXES[x]}")
  for r in runs:
    for exp, (data, folder) in r["experiments"].items():
      page.heading(2, f"{exp}: {r['name']}")
      header, rows = _experiment_rows(exp, data)
      page.table(header, rows)
      for fig in data.get("figures", []):
        # Names built here from safe parts: a run's record or experiment file cannot steer the write
        # (or the read) outside --out (or outside the experiment's folder).
        fig = os.path.basename(str(fig))
        if not os.path.isfile(os.path.join(folder, fig)):
          raise BiglogitError(f"{folder} lists figure {fig!r}, which is not in that folder; rerun the experiment")
        target = f"{safe_name(r['name'])}_{safe_name(exp)}_{safe_name(fig)}"
        shutil.copyfile(os.path.join(folder, fig), os.path.join(figures_dir, target))
        written.append(f"figures/{target}")
        columns = data.get("columns") or data.get("figure_columns") or ""
        page.image(f"figures/{target}", f"{exp} {fig}: columns {columns}" if columns else f"{exp} {fig}")
  for name, text in (("README.md", page.markdown()), ("index.html", page.html(title))):
    files.atomic_write(os.path.join(out, name), text)
  for stale in set(previous) - set(written) - {"README.md", "index.html"}:  # its own, from last time
    if os.path.isfile(os.path.join(out, stale)):
      os.remove(os.path.join(out, stale))
  files.atomic_write(os.path.join(out, MARKER), json.dumps(sorted(written + ["README.md", "index.html"]),
                                                           indent=0))
  return os.path.join(out, "README.md")


MARKER = ".biglogit_report.json"  # the files a report wrote into its --out: the only ones it replaces
OWN_NAMES = ("README.md", "index.html", "figures")


def safe_name(name: str) -> str:
  """A file-name part of letters, digits, '-', '_' and '.', never starting with a dot."""
  return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)).lstrip(".") or "_"


def check_out(out: str) -> List[str]:
  """--out may be new, hold other things than a report's files (an intro file, say), or be a folder an
  earlier report wrote (its MARKER lists what it may replace); a README.md, index.html or figures/ it
  did not write is refused in one line. Returns the files the earlier report wrote."""
  files.check_can_create(out, "--out")
  marker = os.path.join(out, MARKER)
  previous = json.loads(open(marker).read()) if os.path.isfile(marker) else []
  foreign = [n for n in OWN_NAMES if os.path.exists(os.path.join(out, n)) and n not in previous
             and not (n == "figures" and any(p.startswith("figures/") for p in previous))]
  if foreign:
    raise BiglogitError(f"--out={out} holds {', '.join(foreign)}, which no report wrote there; give a new "
                        "folder (a report writes README.md, index.html and figures/)")
  return previous


def main(argv):
  def body():
    if len(argv) < 2:
      raise BiglogitError("give at least one run folder: python -m biglogit.report RUN [RUN ...] --out=DIR")
    intro = ""
    if flags.FLAGS.intro:
      if not os.path.exists(flags.FLAGS.intro):
        raise BiglogitError(f"--intro={flags.FLAGS.intro}: no such file")
      with open(flags.FLAGS.intro) as f:
        intro = f.read()
    print(build(argv[1:], flags.FLAGS.out, flags.FLAGS.title, intro, flags.FLAGS.learning_curve))
  body()


def run():
  """python -m biglogit.report (this package's __main__.py)."""
  flags.DEFINE_string("out", "report", "Output folder.")
  flags.DEFINE_string("title", "biglogit report", "Page title.")
  flags.DEFINE_string("intro", "", "Markdown file whose paragraphs go under the title.")
  flags.DEFINE_list("learning_curve", [], "Training workdirs with periodic evaluations: a learning-curve "
                    "figure on the page.")
  cli.run(main)


if __name__ == "__main__":
  run()
