"""python -m biglogit.report.contrast A B [C D] [--metrics=a,b,...] [--names=a,b,c,d]

Paired comparisons of evaluations on the same images. Each argument is an evaluation folder (holding
metrics.json and the per-example values written beside it) or a metrics.json path. With two: the
difference A - B of each metric's mean, its 95% interval from one bootstrap over the images (each
resample takes the same images from both, so what the images share cancels), and whether the interval
excludes 0. With four, a 2x2 design (A, B one level of a factor, C, D the other): both differences and
the interaction (A - B) - (C - D), e.g. robust - standard for ResNet minus the same for Inception: does
the second factor change the first one's effect?
Refused in one line when the evaluations are not of the same examples (their indices in the split),
or when one was written before per-example values were kept.
"""
import os
from typing import Dict, List, Sequence

import numpy as np
from absl import flags

from biglogit import BiglogitError
from biglogit import cli
from biglogit.evaluate import core
from biglogit.evaluate import metrics as M

DEFAULT_METRICS = ("instance_gain_db", "retrieval_top1_feature_in_class", "retrieval_top1_pixel_in_class")
BOOTSTRAP = 2000


def _json_path(path: str) -> str:
  return path if path.endswith(".json") else os.path.join(path, "metrics.json")


def load(paths: Sequence[str]) -> List[Dict[str, np.ndarray]]:
  """Each evaluation's per-example arrays, checked to be of the same examples in the same order."""
  loaded = [core.read_per_example(_json_path(p))[1] for p in paths]
  first = loaded[0]["index"]
  for path, arrays in zip(paths[1:], loaded[1:]):
    if not np.array_equal(arrays["index"], first):
      raise BiglogitError(f"{path} was evaluated on other examples than {paths[0]} (their indices in the split "
                          "differ); compare evaluations of the same split and --num_examples")
  return loaded


def paired_interval(values: np.ndarray) -> Dict[str, float]:
  """Mean of per-example contrasts with the evaluation's percentile-bootstrap 95% interval over them."""
  return M.bootstrap_ci(values, BOOTSTRAP)


def contrasts(arrays: List[Dict[str, np.ndarray]], metric: str) -> Dict[str, Dict[str, float]]:
  """{"A - B": ..., and with four "C - D": ..., "(A - B) - (C - D)": ...}; examples where any of them
  is undefined (instance gain of a class's only example) are left out of all."""
  missing = [i for i, a in enumerate(arrays) if metric not in a]
  if missing:
    raise BiglogitError(f"metric {metric} is not kept per example in evaluation(s) {missing}; use one of "
                        f"{', '.join(core.PAIRED_METRICS)}")
  values = np.stack([a[metric].astype(np.float64) for a in arrays])
  values = values[:, np.isfinite(values).all(axis=0)]
  out = {"A - B": paired_interval(values[0] - values[1])}
  if len(arrays) == 4:
    out["C - D"] = paired_interval(values[2] - values[3])
    out["(A - B) - (C - D)"] = paired_interval((values[0] - values[1]) - (values[2] - values[3]))
  return out


def markdown(paths: Sequence[str], names: Sequence[str], metrics: Sequence[str]) -> str:
  arrays = load(paths)
  letters = "ABCD"[:len(paths)]
  lines = [f"- {letter}: {name} (`{path}`)" for letter, name, path in zip(letters, names, paths)] + [""]
  header = None
  for metric in metrics:
    found = contrasts(arrays, metric)
    if header is None:
      header = list(found)
      lines += ["| metric | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    cells = []
    for c in found.values():
      mark = "" if c["ci_low"] <= 0 <= c["ci_high"] else " (excludes 0)"
      cells.append(f"{c['mean']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]{mark}")
    lines.append(f"| {metric} | " + " | ".join(cells) + " |")
  n = len(arrays[0]["index"])
  lines += ["", f"Paired 95% bootstrap intervals ({BOOTSTRAP} resamples of the {n} examples; examples "
            "where a metric is undefined are left out of that row)."]
  return "\n".join(lines)


def main(argv):
  paths = argv[1:]
  if len(paths) not in (2, 4):
    raise BiglogitError(f"give 2 evaluations (A B) or 4 (A B C D), not {len(paths)}: python -m "
                        "biglogit.report.contrast A B [C D]")
  names = flags.FLAGS.names or paths
  if len(names) != len(paths):
    raise BiglogitError(f"--names has {len(names)} names for {len(paths)} evaluations; give one each")
  print(markdown(paths, names, [m for m in flags.FLAGS.metrics.split(",") if m]))


if __name__ == "__main__":
  flags.DEFINE_string("metrics", ",".join(DEFAULT_METRICS), "Comma-separated metrics kept per example.")
  flags.DEFINE_list("names", [], "A label for each evaluation, in order (default: its path).")
  cli.run(main)
