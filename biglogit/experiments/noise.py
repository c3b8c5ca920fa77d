"""Noise resampling: the same logits z with K fresh eps. What varies across a row is what z does not
pin down (the paper: pose, size, position; much more for standard than for robust logits).

  python -m biglogit.experiments.noise --workdir=RUN --num_samples=8

Writes noise.png (original | K reconstructions per row) and noise.json: noise sensitivity (mean
per-pixel std over the K samples) with a bootstrap 95% interval over num_examples examples.
"""
import os

from biglogit import BiglogitError
from biglogit import limits
from biglogit import cli
from biglogit import inference
from biglogit.experiments import harness

NAME = "noise"


def run(workdir, out=None, num_images: int = 8, num_samples: int = 8, num_examples: int = 200,
        seed: int = 0, split=None, levers=None):
  if num_samples < 2:
    raise BiglogitError(f"--num_samples={num_samples}; noise sensitivity needs at least 2")
  r = harness.prepare_experiment(workdir, NAME, num_examples=num_examples, split=split, out=out, levers=levers)
  if not r.inverter.stochastic:
    raise BiglogitError(f"{workdir} is a {r.inverter.config.method} run, which ignores eps; "
                        "noise resampling needs a GAN inverter")
  ex = r.examples
  std, samples = r.evaluator.noise_sensitivity(r.inverter.reconstruct, ex["logits"], num_samples, seed,
                                               indices=ex["index"])
  rows = harness.pick(len(ex["x"]), num_images, seed)
  figure = harness.save_grid(os.path.join(r.out, "noise.png"), [ex["x"][rows]] + [s[rows] for s in samples],
                            ["original"] + [f"eps {k + 1}" for k in range(len(samples))])
  result = {**harness.header(r, NAME), "num_samples": num_samples,
            "noise_std": r.ci(std),
            "per_image_noise_std_shown": std[rows], "figures": [os.path.basename(figure)]}
  harness.write_json(os.path.join(r.out, "noise.json"), result)
  return result


if __name__ == "__main__":
  from absl import flags
  harness.define_common_flags(200)
  flags.DEFINE_integer("num_images", 8, "Rows of the figure.", lower_bound=1, upper_bound=limits.MAX_ROWS)
  flags.DEFINE_integer("num_samples", 8, "K: eps samples per z.", lower_bound=1, upper_bound=1024)
  F = flags.FLAGS
  cli.run(lambda _: run(F.workdir, F.out, F.num_images, F.num_samples, F.num_examples, F.seed, F.split,
          levers=inference.overrides_from_flags(F)))
