"""Seconds per image of each inference-time lever on this machine, compilation excluded: each lever runs
twice on the same N held-out logits and the second, warm call is timed. Run it on an otherwise idle
machine; the fidelity page quotes its output.

  python launch/fidelity_cost.py pretrained/cifar10/resnet4b_gan pretrained/cifar10/resnet20_trained_robust_gan_cpu
"""
import json
import sys
import time

from biglogit.data import pipeline
from biglogit.inverter import Inverter

LEVERS = {"plain": {}, "t1": {"truncation": 1.0}, "k16": {"best_of": 16}, "k64": {"best_of": 64},
          "r20": {"refine_steps": 20}, "t1_k16": {"truncation": 1.0, "best_of": 16},
          "k16_r20": {"best_of": 16, "refine_steps": 20}}


def main(releases, n: int = 250):
  for release in releases:
    inv = Inverter.load(release)
    ex = pipeline.fixed_examples(inv.config.data.dataset, "test", "data_out", n)
    for name, levers in LEVERS.items():
      settings = inv.inference.replace(**levers)
      inv.invert(ex["logits"], indices=ex["index"], settings=settings)  # compiles
      start = time.perf_counter()
      inv.invert(ex["logits"], indices=ex["index"], settings=settings)
      print(json.dumps({"release": release, "lever": name, "images": n,
                        "seconds_per_image": round((time.perf_counter() - start) / n, 5)}), flush=True)


if __name__ == "__main__":
  main([a for a in sys.argv[1:] if not a.startswith("--")])
