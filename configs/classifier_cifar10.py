"""A same-architecture standard/robust pair of CIFAR-10 classifiers trained here, one family:
--config=configs/classifier_cifar10.py:standard or :robust (default standard).

Both are ResNet-20 at width 32 (2x the akamaster widths) and differ only in `adversarial.enabled`,
so robust-vs-standard inversions compare training objectives without an architecture confound (the
akamaster ResNet-20 vs VNN-COMP ResNet-4B pair differs in both).
  standard  SGD + Nesterov, cosine decay, crop/flip augmentation, 100 epochs
  robust    the same with PGD adversarial training (Madry et al. 2018): L-inf eps = 2/255 (the
            VNN-COMP models' radius), 7 steps of 0.5/255, random start; about 8x the standard run's
            cost (one forward/backward per PGD step)
Commands (hardware: one GPU; expected time: not yet measured):
  python -m biglogit.classifiers.train --config=configs/classifier_cifar10.py:standard \
      --workdir=workdirs/classifier_cifar10_standard
  python -m biglogit.classifiers.train --config=configs/classifier_cifar10.py:robust \
      --workdir=workdirs/classifier_cifar10_robust
"""
from biglogit.config_base import classifier_base_config

VARIANTS = ("standard", "robust")


def get_config(variant: str = "standard"):
  if variant not in VARIANTS:
    raise ValueError(f"variant {variant!r}; use configs/classifier_cifar10.py:NAME with NAME one of "
                     f"{', '.join(VARIANTS)}")
  c = classifier_base_config()
  c.model.arch = "cifar_resnet20"
  c.model.module_kwargs.width = 32
  c.train.num_epochs = 100
  c.adversarial.enabled = variant == "robust"
  return c
