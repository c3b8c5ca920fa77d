"""Invert the logits of adversarial examples: PGD (L-inf, the classifiers' attack) on phi at several
eps, then x_hat_adv = G(phi(x_adv)). Does the reconstruction follow the adversarial class or the
true one, and how far is it from the original image?

  python -m biglogit.experiments.adversarial --workdir=RUN --eps=0,1,2,4,8 (in 1/255 units)

Per eps, in adversarial.json: attack success (phi(x_adv) != label), and over successfully attacked
examples: follows_adversarial (argmax phi(x_hat_adv) == argmax phi(x_adv)), follows_true
(== label), PSNR/SSIM of x_hat_adv vs x and vs the clean reconstruction. adversarial.png: original |
then per eps: x_adv, x_hat_adv. The same eps noise is used for clean and attacked reconstructions.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np

from biglogit.classifiers import pgd
from biglogit.evaluate import metrics as M
from biglogit.evaluate import nets
from biglogit.experiments import harness
from biglogit import cli
from biglogit import limits
from biglogit import inference

NAME = "adversarial"


def make_attack(phi, steps: int):
  """jitted (x, labels, key_data, eps) -> x_adv: PGD-`steps` with random start, step 2.5 eps / steps
  (Madry et al.). eps is traced, so every radius shares one compiled program."""
  def fn(xb, yb, key_data, eps):
    return pgd.pgd_linf(phi.logits_fn, xb, yb, eps=eps, step_size=2.5 * eps / max(steps, 1),
                        steps=steps, rng=jax.random.wrap_key_data(key_data))
  return jax.jit(fn)


def attack(attack_fn, x, labels, eps: float, seed: int, batch_size: int):
  # One key per example; each batch's random start uses its first example's key, so results do not
  # depend on how many examples follow.
  keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(seed), len(x))))
  one = lambda xb, yb, kb: attack_fn(xb, yb, jnp.asarray(kb[0]), jnp.float32(eps))
  return nets.batched_apply(one, x, labels, keys, batch_size=batch_size)


def run(workdir, out=None, eps_255=(0, 1, 2, 4, 8), steps: int = 10, num_images: int = 6,
        num_examples: int = 500, seed: int = 0, split=None, levers=None):
  r = harness.prepare_experiment(workdir, NAME, num_examples=num_examples, split=split, out=out, need_phi=True,
                                levers=levers)
  ex, phi = r.examples, r.evaluator.phi
  x, labels = ex["x"], ex["label"]
  eps_noise = r.inverter.sample_eps(ex["index"], seed)
  clean_logits = phi.logits(x)
  x_hat_clean = r.inverter.reconstruct(clean_logits, eps_noise)
  shown = harness.pick(len(x), num_images, seed)
  columns, per_eps = [x[shown]], []
  attack_fn = make_attack(phi, steps)
  for e in eps_255:
    x_adv = attack(attack_fn, x, labels, e / 255.0, seed, r.inverter.batch_size) if e > 0 else x
    z_adv = phi.logits(x_adv)
    x_hat = r.inverter.reconstruct(z_adv, eps_noise)
    adv_class = z_adv.argmax(-1)
    fooled = adv_class != labels
    rec_class = phi.logits(x_hat).argmax(-1)
    row = {"eps_255": e, "linf": float(np.abs(x_adv - x).max()), "phi_accuracy": float((~fooled).mean()),
           "attack_success": float(fooled.mean()), "attacked": int(fooled.sum())}
    if fooled.sum() > 0:
      f = np.flatnonzero(fooled)
      row["follows_adversarial"] = r.ci((rec_class[f] == adv_class[f]).astype(float))
      row["follows_true"] = r.ci((rec_class[f] == labels[f]).astype(float))
      row["psnr_vs_original"] = r.ci(M.psnr(x[f], x_hat[f]))
      row["ssim_vs_original"] = r.ci(M.ssim(x[f], x_hat[f]))
      row["psnr_vs_clean_reconstruction"] = r.ci(M.psnr(x_hat_clean[f], x_hat[f]))
    row["psnr_vs_original_all"] = r.ci(M.psnr(x, x_hat))
    per_eps.append(row)
    columns += [x_adv[shown], x_hat[shown]]
  titles = ["original"] + [f"{k} eps={e:g}/255" for e in eps_255 for k in ("x_adv", "x_hat_adv")]
  figure = harness.save_grid(os.path.join(r.out, "adversarial.png"), columns, titles)
  result = {**harness.header(r, NAME), "attack": f"PGD-{steps} L-inf, random start, step 2.5 eps/{steps}",
            "columns": titles,
            "per_eps": per_eps, "figures": [os.path.basename(figure)]}
  harness.write_json(os.path.join(r.out, "adversarial.json"), result)
  return result


if __name__ == "__main__":
  from absl import flags
  harness.define_common_flags(500)
  flags.DEFINE_list("eps", ["0", "1", "2", "4", "8"], "L-inf radii in units of 1/255.")
  flags.DEFINE_integer("steps", 10, "PGD steps.", lower_bound=1, upper_bound=10_000)
  flags.DEFINE_integer("num_images", 6, "Rows of the figure.", lower_bound=1, upper_bound=limits.MAX_ROWS)
  F = flags.FLAGS
  cli.run(lambda _: run(F.workdir, F.out, [float(e) for e in F.eps], F.steps, F.num_images,
                        F.num_examples, F.seed, F.split, levers=inference.overrides_from_flags(F)))
