"""Logit manipulations: shift (z + c), scale (s z), Gaussian perturbation (z + sigma n) and
interpolation between two images' logits ((1 - a) z_A + a z_B).

  python -m biglogit.experiments.logit_edits --workdir=RUN

A shift leaves softmax(z) unchanged -- yet G sees z itself, so the reconstruction can change: the
JSON reports how much it does (pixel change vs the unedited x_hat) next to the softmax change (0 up
to float error). Every edit reuses the unedited reconstruction's eps, so differences come from the
edit alone. Per edit kind and size: PSNR vs the original, mean |x_hat_edit - x_hat| per pixel, and
phi's agreement with the original class (interpolation: with class A and class B). One figure per
kind: rows = examples, columns = edit sizes.
"""
import os

import numpy as np

from biglogit.evaluate import metrics as M
from biglogit.experiments import harness
from biglogit import cli
from biglogit import limits
from biglogit import inference

NAME = "logit_edits"
DEFAULT_EDITS = {
    "shift": (-10.0, -5.0, 0.0, 5.0, 10.0),
    "scale": (0.25, 0.5, 1.0, 2.0, 4.0),
    "gaussian": (0.0, 0.5, 1.0, 2.0, 4.0),
    "interpolate": (0.0, 0.25, 0.5, 0.75, 1.0),
}


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def edit(kind: str, value: float, z, z_other, rng):
  if kind == "shift":
    return z + value
  if kind == "scale":
    return z * value
  if kind == "gaussian":
    return z + value * rng.standard_normal(z.shape).astype(np.float32)
  if kind == "interpolate":
    return (1.0 - value) * z + value * z_other
  raise ValueError(f"unknown edit {kind!r}")


def run(workdir, out=None, edits=None, num_images: int = 6, num_examples: int = 500, seed: int = 0,
        split=None, levers=None):
  edits = edits or DEFAULT_EDITS
  r = harness.prepare_experiment(workdir, NAME, num_examples=num_examples, split=split, out=out, levers=levers)
  ex, phi = r.examples, r.evaluator.phi
  x, z = ex["x"], ex["logits"].astype(np.float32)
  # Interpolation partner: the next example with a different predicted class.
  cls = z.argmax(-1)
  partner = np.array([next((j % len(z) for j in range(i + 1, i + len(z)) if cls[j % len(z)] != cls[i]),
                           (i + 1) % len(z)) for i in range(len(z))])
  eps = r.inverter.sample_eps(ex["index"], seed)
  x_hat0 = r.inverter.reconstruct(z, eps)
  shown = harness.pick(len(z), num_images, seed)
  results, figures = {}, []
  for kind, values in edits.items():
    rows, columns = [], [x[shown]] + ([x[partner[shown]]] if kind == "interpolate" else [])
    for v in values:
      z_edit = edit(kind, v, z, z[partner], np.random.default_rng(seed))
      x_hat = r.inverter.reconstruct(z_edit, eps)
      row = {"value": v, "psnr_vs_original": r.ci(M.psnr(x, x_hat)),
             "pixel_change_vs_unedited": r.ci(np.abs(x_hat - x_hat0).mean(axis=(1, 2, 3))),
             "max_softmax_change": float(np.abs(_softmax(z_edit) - _softmax(z)).max())}
      if phi is not None:
        pred = phi.logits(x_hat).argmax(-1)
        row["phi_agrees_with_original_class"] = r.ci((pred == cls).astype(float))
        if kind == "interpolate":
          row["phi_agrees_with_partner_class"] = r.ci((pred == cls[partner]).astype(float))
      rows.append(row)
      columns.append(x_hat[shown])
    results[kind] = rows
    titles = ["original"] + (["partner"] if kind == "interpolate" else []) + [f"{kind} {v:g}" for v in values]
    figures.append(os.path.basename(harness.save_grid(os.path.join(r.out, f"{kind}.png"), columns, titles)))
  result = {**harness.header(r, NAME), "edits": {k: list(v) for k, v in edits.items()},
            "results": results, "figures": figures,
            "figure_columns": "original (| partner for interpolate) | one column per edit value"}
  harness.write_json(os.path.join(r.out, "logit_edits.json"), result)
  return result


if __name__ == "__main__":
  from absl import flags
  harness.define_common_flags(500)
  for name, default in DEFAULT_EDITS.items():
    flags.DEFINE_list(name, [str(v) for v in default], f"{name} values")
  flags.DEFINE_integer("num_images", 6, "Rows of each figure.", lower_bound=1, upper_bound=limits.MAX_ROWS)
  F = flags.FLAGS
  cli.run(lambda _: run(
      F.workdir, F.out, {k: [float(v) for v in getattr(F, k)] for k in DEFAULT_EDITS}, F.num_images,
      F.num_examples, F.seed, F.split, levers=inference.overrides_from_flags(F)))
