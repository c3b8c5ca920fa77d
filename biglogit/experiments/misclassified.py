"""Correctly vs. incorrectly classified images: do reconstructions of misclassified images still
resemble the original (the paper: yes)?

  python -m biglogit.experiments.misclassified --workdir=RUN

"Correct" means phi's logits in the dataset rank the true label first. Writes correct.png and
misclassified.png (original | reconstruction) and misclassified.json: every evaluation metric with
its 95% interval, separately for the two groups.
"""
import os

import numpy as np

from biglogit import BiglogitError
from biglogit.experiments import harness

NAME = "misclassified"


def run(workdir, out=None, num_images: int = 8, num_examples: int = 2000, seed: int = 0, split=None, levers=None):
  r = harness.prepare_experiment(workdir, NAME, num_examples=num_examples, split=split, out=out, levers=levers)
  ex = r.examples
  correct = ex["logits"].argmax(-1) == ex["label"]
  if (~correct).sum() < 2:
    raise BiglogitError(f"fewer than 2 misclassified examples among {len(correct)}; raise --num_examples")
  x_hat = r.inverter.reconstruct(ex["logits"], seed=seed, indices=ex["index"])
  groups, figures = {}, []
  for name, mask in (("correct", correct), ("misclassified", ~correct)):
    idx = np.flatnonzero(mask)
    if len(idx) < 2:
      groups[name] = {"count": int(len(idx)), "metrics": {}}
      continue
    summary, _ = r.evaluator.score(ex["x"][idx], x_hat[idx], ex["logits"][idx], ex["label"][idx])
    groups[name] = {"count": int(len(idx)), "metrics": summary}
    shown = idx[harness.pick(len(idx), num_images, seed)]
    figures.append(os.path.basename(harness.save_grid(os.path.join(r.out, f"{name}.png"),
                                                     [ex["x"][shown], x_hat[shown]],
                                                     ["original", f"x_hat ({name})"])))
  result = {**harness.header(r, NAME), "accuracy": float(correct.mean()), "groups": groups,
            "figures": figures}
  harness.write_json(os.path.join(r.out, "misclassified.json"), result)
  return result


if __name__ == "__main__":
  harness.simple_main(run, 2000, 8)
