"""Invariances: image transforms that keep phi's prediction, and what the reconstruction keeps.

  python -m biglogit.experiments.invariance --workdir=RUN

For each transform T (brightness, contrast, horizontal flip, small translation, crop-and-resize,
blur): z_T = phi(T(x)); on the examples whose predicted class T does not change, compare
x_hat_T = G(z_T) with x_hat = G(phi(x)) (same eps). `transform_visible` is the fraction where x_hat_T
is closer to T(x_hat) than to x_hat, i.e. the logits carried the transform into the reconstruction;
near 0 means phi's output is invariant to it. Also logit cosine(z_T, z), PSNR of x_hat_T vs T(x) and
vs x. invariance.png: original | x_hat | per transform: T(x), x_hat_T.
"""
import os

import jax
import numpy as np
import scipy.ndimage

from biglogit.evaluate import metrics as M
from biglogit.experiments import harness

NAME = "invariance"


def _translate(x, pixels: int):
  """Shift right and down by `pixels`, filling with the edge (no wrap-around)."""
  p = pixels
  padded = np.pad(x, ((0, 0), (p, 0), (p, 0), (0, 0)), mode="edge")
  return padded[:, :x.shape[1], :x.shape[2], :]


def _crop_resize(x, fraction: float):
  n, h, w, c = x.shape
  ch, cw = int(round(h * fraction)), int(round(w * fraction))
  top, left = (h - ch) // 2, (w - cw) // 2
  crop = x[:, top:top + ch, left:left + cw, :]
  return np.asarray(jax.image.resize(crop, (n, h, w, c), "bilinear"))


TRANSFORMS = {
    "brightness+0.1": lambda x: np.clip(x + 0.1, 0, 1),
    "contrast*0.7": lambda x: np.clip((x - x.mean(axis=(1, 2, 3), keepdims=True)) * 0.7 +
                                      x.mean(axis=(1, 2, 3), keepdims=True), 0, 1),
    "hflip": lambda x: x[:, :, ::-1, :],
    "translate2px": lambda x: _translate(x, 2),
    "crop0.875_resize": lambda x: _crop_resize(x, 0.875),
    "blur_sigma0.8": lambda x: scipy.ndimage.gaussian_filter(x, sigma=(0, 0.8, 0.8, 0)),
}


def run(workdir, out=None, num_images: int = 6, num_examples: int = 500, seed: int = 0, split=None, levers=None):
  r = harness.prepare_experiment(workdir, NAME, num_examples=num_examples, split=split, out=out, need_phi=True,
                                levers=levers)
  phi, x = r.evaluator.phi, r.examples["x"]
  eps = r.inverter.sample_eps(r.examples["index"], seed)
  z = phi.logits(x)
  x_hat = r.inverter.reconstruct(z, eps)
  shown = harness.pick(len(x), num_images, seed)
  columns, results = [x[shown], x_hat[shown]], {}
  for name, transform in TRANSFORMS.items():
    x_t = np.asarray(transform(x), np.float32)
    z_t = phi.logits(x_t)
    x_hat_t = r.inverter.reconstruct(z_t, eps)
    kept = np.flatnonzero(z_t.argmax(-1) == z.argmax(-1))
    row = {"prediction_kept": float(len(kept) / len(x)), "kept": int(len(kept))}
    if len(kept):
      t_of_hat = np.asarray(transform(x_hat[kept]), np.float32)
      d_t = ((x_hat_t[kept] - t_of_hat) ** 2).mean(axis=(1, 2, 3))
      d_0 = ((x_hat_t[kept] - x_hat[kept]) ** 2).mean(axis=(1, 2, 3))
      row.update({
          "logit_cosine": r.ci(M.cosine(z_t[kept], z[kept])),
          "transform_visible": r.ci((d_t < d_0).astype(float)),
          "psnr_vs_transformed": r.ci(M.psnr(x_t[kept], x_hat_t[kept])),
          "psnr_vs_original": r.ci(M.psnr(x[kept], x_hat_t[kept])),
          "psnr_vs_untransformed_reconstruction": r.ci(M.psnr(x_hat[kept], x_hat_t[kept]))})
    results[name] = row
    columns += [x_t[shown], x_hat_t[shown]]
  titles = ["original", "x_hat"] + [f"{k} {t}" for t in TRANSFORMS for k in ("T(x)", "x_hat_T")]
  figure = harness.save_grid(os.path.join(r.out, "invariance.png"), columns, titles)
  result = {**harness.header(r, NAME), "transforms": results, "figures": [os.path.basename(figure)],
            "columns": titles}
  harness.write_json(os.path.join(r.out, "invariance.json"), result)
  return result


if __name__ == "__main__":
  harness.simple_main(run, 500, 6)
