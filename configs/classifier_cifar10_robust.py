"""PGD-adversarially trained CIFAR-10 ResNet-20 (width 32): the robust half of the same-architecture pair.

Command (hardware: one GPU; expected time: not yet measured; about 8x the standard run's cost, one
forward/backward per PGD step):
  python -m biglogit.classifiers.train --config=configs/classifier_cifar10_robust.py \
      --workdir=workdirs/classifier_cifar10_robust
Madry et al. 2018 with L-inf eps = 2/255 (the VNN-COMP models' radius), 7 steps of 0.5/255, random start.
"""
from biglogit.config_base import sibling

classifier_cifar10_standard = sibling(__file__, "classifier_cifar10_standard")


def get_config():
  c = classifier_cifar10_standard.get_config()
  c.adversarial.enabled = True
  return c
