"""Standard CIFAR-10 ResNet-20 (width 32, i.e. 2x the akamaster widths), trained here.

Command (hardware: one GPU; expected time: not yet measured):
  python -m biglogit.classifiers.train --config=configs/classifier_cifar10_standard.py \
      --workdir=workdirs/classifier_cifar10_standard
Half of a same-architecture standard/robust pair: configs/classifier_cifar10_robust.py differs only
in `adversarial.enabled`, so robust-vs-standard inversions compare training objectives without an
architecture confound (the akamaster vs VNN-COMP pair differs in both).
"""
from biglogit.config_base import classifier_base_config


def get_config():
  c = classifier_base_config()
  c.model.arch = "cifar_resnet20"
  c.model.module_kwargs.width = 32
  c.train.num_epochs = 100
  return c
