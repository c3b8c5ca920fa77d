"""A same-architecture standard/robust pair of CIFAR-10 classifiers trained here:
--config=configs/classifier_cifar10.py:standard or :robust (default standard), and the same pair
with an Inception in place of the ResNet: :inception,standard and :inception,robust.

What it is for: robust-vs-standard inversions that compare training objectives alone. Both members
are the akamaster ResNet-20 architecture (width 16), with the same data order, seed, augmentation
(crop + flip), schedule (SGD + Nesterov, cosine decay over 6 epochs) and held-out images (500
of the train split, a seeded random choice, for the guard); only the objective differs:
  standard  cross-entropy on clean images
  robust    FGSM-RS adversarial training (Wong, Rice & Kolter 2020): L-inf eps 8/255, one step of
            1.25 eps from a random start, with the catastrophic-overfitting guard (PGD-10 accuracy
            on the held-out images every 250 steps; a collapse stops the run with one line)
Why these settings (eps, width, epochs, method): results/leakage/README.md. `:robust,pgd` trains with
PGD-7 instead (about 3x the FGSM-RS cost).
The Inception pair (issue 53: does the architecture change what the logits keep?) changes only the
network: the small Inception of Zhang et al. 2017 at width 0.4 (`cifar_inception`, 264,926
parameters and 80.6 MFLOPs per image against the ResNet-20's 269,722 and 75.8), with every other setting
above.
Commands (2-core CPU, measured: results/leakage/README.md):
  python -m biglogit.classifiers.fit --config=configs/classifier_cifar10.py:standard \
      --workdir=workdirs/classifier_cifar10_standard
  python -m biglogit.classifiers.fit --config=configs/classifier_cifar10.py:robust \
      --workdir=workdirs/classifier_cifar10_robust
  python -m biglogit.classifiers.fit --config=configs/classifier_cifar10.py:inception,standard \
      --workdir=workdirs/classifier_cifar10_inception_standard
"""
import ml_collections

from biglogit.config_base import classifier_base_config

VARIANTS = ("standard", "robust", "robust,pgd", "inception,standard", "inception,robust")


def get_config(variant: str = "standard"):
  if variant not in VARIANTS:
    raise ValueError(f"variant {variant!r}; use configs/classifier_cifar10.py:NAME with NAME one of "
                     f"{', '.join(VARIANTS)}")
  c = classifier_base_config()
  if variant.startswith("inception,"):
    c.model.arch = "cifar_inception"
    c.model.module_kwargs = ml_collections.ConfigDict({"width": 0.4})  # the ResNet-20's parameter count
    variant = variant[len("inception,"):]
  else:
    c.model.arch = "cifar_resnet20"
    c.model.module_kwargs.width = 16
  c.train.num_epochs = 6
  c.data.holdout = 500
  c.adversarial.enabled = variant.startswith("robust")
  c.adversarial.eps = 8 / 255
  c.adversarial.method = "pgd" if variant.endswith("pgd") else "fgsm_rs"
  c.adversarial.step_size = 2 / 255  # pgd only: 7 steps of eps / 4
  c.adversarial.guard_every = 250
  c.evaluation.pgd_eps = 8 / 255
  c.evaluation.pgd_step_size = 2 / 255
  c.checkpoint_every = 250
  c.keep_checkpoints = 1
  return c
