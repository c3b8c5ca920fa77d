"""CIFAR-10 inverter for the adversarially trained VNN-COMP 2021 ResNet-4B (PGD, L-inf 2/255).

Commands:
  python -m biglogit.data.make_logits --source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz \
      --classifier=pretrained/cifar10/resnet4b --data_dir=data_out
  python -m biglogit.main --config=configs/cifar10_resnet4b.py --workdir=workdirs/cifar10_resnet4b
Same GAN as configs/cifar10_resnet20.py: the robust-logit column of the paper's Fig. 1, on CIFAR-10.
(ResNet-4B and ResNet-20 also differ in architecture; configs/classifier_cifar10_*.py train a
same-architecture standard/robust pair for a confound-free comparison.)
"""
from biglogit.config_base import sibling

cifar10_resnet20 = sibling(__file__, "cifar10_resnet20")


def get_config():
  c = cifar10_resnet20.get_config()
  c.data.dataset = "cifar10_resnet4b"
  return c
