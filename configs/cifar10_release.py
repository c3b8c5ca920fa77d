"""Leakage under restricted outputs: the robust ResNet-4B inverter of configs/cifar10_resnet4b.py,
trained once per release format of the classifier's output (data/release.py).

Sweep (one workdir per format; hardware: one GPU each, time not yet measured):
  python launch/sweep.py --config=configs/cifar10_release.py --root=workdirs/release
then evaluate each run and compare:
  python -m biglogit.evaluate --workdir=workdirs/release/kind=softmax  (etc.)
  python -m biglogit.report workdirs/release/* --out=results/release
What it measures: how much image detail survives when an API releases probabilities, the top-5
logits, only the label, or probabilities rounded to 2 decimals instead of the full logit vector.
"""
from biglogit.config_base import sibling

cifar10_resnet4b = sibling(__file__, "cifar10_resnet4b")


def get_config():
  c = cifar10_resnet4b.get_config()
  c.release.kind = "full"
  return c


def get_sweep():
  return [{"release.kind": "full"}, {"release.kind": "softmax"},
          {"release.kind": "topk", "release.k": 5}, {"release.kind": "top1"},
          {"release.kind": "rounded", "release.decimals": 2}]
