"""Choose the refinement's learning rate and prior weight on held-out images that the fidelity page does
NOT score (test images 1000..1000+N of each dataset; the page uses the first 1000), so its rows are not
tuned on their own test set. Prints instance gain, within-class pixel retrieval and the phi-distance per
setting, and the wall time per image.

  python launch/fidelity_tuning.py pretrained/cifar10/resnet4b_gan [more releases] [--n=250]
"""
import itertools
import sys
import time

import numpy as np

from biglogit.data import pipeline
from biglogit.evaluate import metrics as M
from biglogit.inverter import Inverter

GRID = {"refine_lr": (0.01, 0.05, 0.2), "refine_prior": (0.0, 0.1, 1.0)}  # lr 0.2, prior 1.0 won on resnet4b_gan


def main(argv):
  n = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--n=")), 250)
  steps = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--steps=")), 20)
  for release in (a for a in argv if not a.startswith("--")):
    inv = Inverter.load(release)
    ex = pipeline.fixed_examples(inv.config.data.dataset, "test", "data_out", 1000 + n)
    x = ex["image"][1000:].astype(np.float32) / 255.0
    z, labels, idx = ex["logits"][1000:], ex["label"][1000:], ex["index"][1000:]

    def report(name, result):
      gain = M.instance_gain_db(result.images, x, labels)
      hits = M.retrieval_ranks(result.images, x, labels) < 1
      print(f"{release} {name}: instance gain {np.nanmean(gain):.3f} dB, pixel retrieval in class "
            f"{hits.mean():.3f}, phi-distance {np.nanmean(result.distance):.3f}, "
            f"{result.seconds / n:.3f} s/image", flush=True)

    report("best_of=2", inv.invert(z, indices=idx, settings=inv.inference.replace(best_of=2)))
    for lr, prior in itertools.product(GRID["refine_lr"], GRID["refine_prior"]):
      s = inv.inference.replace(refine_steps=steps, refine_lr=lr, refine_prior=prior)
      report(f"refine {steps} lr={lr} prior={prior}", inv.invert(z, indices=idx, settings=s))


if __name__ == "__main__":
  start = time.time()
  main(sys.argv[1:])
  print(f"{time.time() - start:.0f} s")
