"""Release a classifier trained by biglogit.classifiers.fit, and tabulate classifiers for results pages.

  python -m biglogit.classifiers.card --run=WORKDIR --out=pretrained/cifar10/NAME \\
      --config_spec=configs/classifier_cifar10.py:VARIANT --title="..." --purpose="..." --hardware="..."
  python -m biglogit.classifiers.card --table=DIR,DIR,...

The release copies WORKDIR/classifier (weights and classifier.json, verified first) to OUT and writes
OUT/MODEL_CARD.md from what was measured and recorded, nothing typed in by hand but the title, purpose
and hardware: the architecture and its parameter count (counted from the weights), the recipe recorded in
classifier.json, the run's training time at its median logged rate (WORKDIR/metrics.jsonl; the final
evaluation excluded), the held-out PGD accuracy the overfitting guard saw, and the final clean and PGD
accuracies with 95% Wilson intervals. --table prints one markdown row per classifier directory
(released or converted): architecture, parameters, objective, clean and PGD accuracy with intervals.
"""
import json
import math
import os
import shutil
from typing import Any, Dict, List, Optional, Tuple

import jax
import numpy as np
from absl import flags

from biglogit import BiglogitError
from biglogit import cli
from biglogit import files
from biglogit.classifiers import io as cio
from biglogit.train_logs import read_jsonl

CARD = "MODEL_CARD.md"


def wilson_interval(successes: int, n: int, z: float = 1.96) -> Tuple[float, float]:
  """95% Wilson score interval of a binomial proportion (sound near 0 and 1, unlike the normal one)."""
  if n <= 0:
    raise BiglogitError("a Wilson interval needs at least one trial")
  p = successes / n
  denominator = 1 + z * z / n
  centre = (p + z * z / (2 * n)) / denominator
  half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
  return max(0.0, centre - half), min(1.0, centre + half)


def _accuracy(accuracy: float, n: Optional[int]) -> str:
  if not n:
    return f"{100 * accuracy:.2f}%"
  low, high = wilson_interval(round(accuracy * n), n)
  return f"{100 * accuracy:.2f}% [{100 * low:.1f}, {100 * high:.1f}] ({n:,} images)"


def _eps(value: float) -> str:
  return f"{value * 255:g}/255"


def objective(meta: Dict[str, Any]) -> str:
  training = meta.get("training")
  if not training:
    return "converted (trained elsewhere)"
  adv = training.get("adversarial", {})
  if not adv.get("enabled"):
    return "cross-entropy"
  if adv.get("method") == "fgsm_rs":
    return f"FGSM-RS, L-inf eps {_eps(adv['eps'])}"
  return f"PGD-{adv['steps']}, L-inf eps {_eps(adv['eps'])}"


def parameter_count(variables) -> int:
  return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(variables["params"])))


def _architecture(meta: Dict[str, Any]) -> str:
  kwargs = ", ".join(f"{k} {v}" for k, v in sorted(meta.get("module_kwargs", {}).items()))
  return meta["architecture"] + (f" ({kwargs})" if kwargs else "")


def table(directories: List[str]) -> str:
  rows = ["| classifier | architecture | parameters | objective | clean accuracy [95% Wilson] | "
          "PGD accuracy [95% Wilson] |", "|---|---|---|---|---|---|"]
  for directory in directories:
    _, variables, meta = cio.load_classifier(directory)
    e = meta.get("evaluation")
    clean = _accuracy(e["clean_accuracy"], e.get("clean_examples")) if e else "-"
    pgd = (f"PGD-{e['pgd_steps']} {_eps(e['pgd_eps'])}: {_accuracy(e['pgd_accuracy'], e['pgd_examples'])}"
           if e else "-")
    rows.append(f"| `{os.path.basename(os.path.normpath(directory))}` | {_architecture(meta)} | "
                f"{parameter_count(variables):,} | {objective(meta)} | {clean} | {pgd} |")
  return "\n".join(rows)


def training_time(run: str) -> Dict[str, float]:
  """Minutes for the run's steps at its median logged rate (robust to the compilation and to
  intervals shared with other jobs), and how many logged intervals that median is over."""
  rates = [r["steps_per_s"] for r in read_jsonl(os.path.join(run, "metrics.jsonl")) if r.get("steps_per_s")]
  if not rates:
    raise BiglogitError(f"{run}/metrics.jsonl logs no steps_per_s; is {run} a biglogit.classifiers.fit workdir?")
  return {"median_steps_per_s": float(np.median(rates)), "intervals": len(rates)}


def guard_history(run: str) -> List[Tuple[int, float]]:
  return [(r["step"], r["holdout_pgd_accuracy"]) for r in read_jsonl(os.path.join(run, "metrics.jsonl"))
          if "holdout_pgd_accuracy" in r]


def card(name: str, meta: Dict[str, Any], params: int, run: str, config_spec: str, title: str,
         purpose: str, hardware: str) -> str:
  t, e = meta["training"], meta["evaluation"]
  time = training_time(run)
  minutes = t["steps"] / time["median_steps_per_s"] / 60
  guard = guard_history(run)
  best_step, best = max(guard, key=lambda g: g[1]) if guard else (None, None)
  guard_line = (f"- Overfitting guard: PGD-{e['pgd_steps']} accuracy on the {t['holdout']} held-out training "
                f"images, every {t['adversarial']['guard_every']} steps: {guard[0][1]:.3f} at step {guard[0][0]}, "
                f"best {best:.3f} at step {best_step}, {guard[-1][1]:.3f} at step {guard[-1][0]}"
                + (" (a fall below half the best would have stopped the run)." if t["adversarial"]["enabled"]
                   else " (logged only: the objective is not adversarial).")) if guard else None
  lines = [
      f"# {name}: {title}", "",
      f"- What it is for: {purpose}",
      f"- Architecture: {_architecture(meta)}, {params:,} parameters; mean/std normalisation inside the "
      f"model; input {meta['input_range']}, {meta['input_resolution']}x{meta['input_resolution']}.",
      f"- Trained by: `python -m biglogit.classifiers.fit --config={config_spec} --workdir={run}` on "
      f"`{t['source']}`; objective {objective(meta)}; {t['steps']} steps of batch {t['global_batch']}, "
      f"{t['holdout']} training images held out for the guard.",
      f"- Hardware and time: {hardware}; {minutes:.1f} min for the {t['steps']} steps at the run's median logged "
      f"rate ({time['median_steps_per_s']:.2f} steps/s over {time['intervals']} logged intervals; the "
      "guard's and the final evaluation's time excluded).",
      guard_line,
      f"- Measured (the trainer's final evaluation, {e['split']} split): clean accuracy "
      f"{_accuracy(e['clean_accuracy'], e.get('clean_examples'))}; PGD-{e['pgd_steps']} L-inf eps "
      f"{_eps(e['pgd_eps'])} (step {_eps(e['pgd_step_size'])}, random start) accuracy "
      f"{_accuracy(e['pgd_accuracy'], e['pgd_examples'])}, the images spread evenly over the split; "
      "intervals are 95% Wilson.",
      f"- Not released: the training checkpoints (the run's latest state stays in `{run}` to resume from).",
      "", f"Written by `python -m biglogit.classifiers.card` from `{run}`.", ""]
  return "\n".join(line for line in lines if line is not None)


def release(run: str, out: str, config_spec: str, title: str, purpose: str, hardware: str) -> str:
  source = os.path.join(run, "classifier")
  if not os.path.exists(os.path.join(source, cio.METADATA)):
    raise BiglogitError(f"{source} holds no trained classifier; finish the run first (rerun "
                        f"biglogit.classifiers.fit with --workdir={run})")
  files.check_can_create(out, "--out")
  if os.path.exists(out):
    raise BiglogitError(f"--out={out} exists; a release is never overwritten: pick another --out or remove it")
  _, variables, meta = cio.load_classifier(source)  # verifies the weights against their digest
  text = card(os.path.basename(os.path.normpath(out)), meta, parameter_count(variables), run, config_spec,
              title, purpose, hardware)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  staging = files.unique_sibling(os.path.abspath(out))
  shutil.copytree(source, staging)
  # where it came from, as a path a reader of the repository can follow (not a behaviour field)
  meta["source_checkpoint"] = f"{run}/checkpoints/{meta['training']['steps']} (not released)"
  with open(os.path.join(staging, cio.METADATA), "w") as f:
    json.dump(meta, f, indent=2)
  with open(os.path.join(staging, CARD), "w") as f:
    f.write(text)
  try:
    cio.verify(staging)
    os.rename(staging, out)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return text


flags.DEFINE_string("run", None, "A biglogit.classifiers.fit workdir whose run has finished.")
flags.DEFINE_string("out", None, "The release directory to create (refused if it exists).")
flags.DEFINE_string("config_spec", None, "The --config the run was trained with (the card's command).")
flags.DEFINE_string("title", None, "What the classifier is, in a line (after its name).")
flags.DEFINE_string("purpose", None, "What it is for (the card's first bullet).")
flags.DEFINE_string("hardware", None, "Where it was trained, e.g. '2-core CPU, otherwise idle'.")
flags.DEFINE_list("table", None, "Classifier directories: print their comparison table instead.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  if FLAGS.table:
    print(table(FLAGS.table))
    return
  missing = [f"--{k}" for k in ("run", "out", "config_spec", "title", "purpose", "hardware") if not FLAGS[k].value]
  if missing:
    cli.fail(f"give {', '.join(missing)} (or --table=DIR,... for a comparison table)")
  print(release(FLAGS.run, FLAGS.out, FLAGS.config_spec, FLAGS.title, FLAGS.purpose, FLAGS.hardware))


if __name__ == "__main__":
  cli.run(main)
