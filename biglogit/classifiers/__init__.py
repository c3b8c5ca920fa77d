"""Flax classifiers. ARCHITECTURES maps the --arch names of the converter and the classifier trainer
to a constructor and the input policy the classifier expects (resolution, resize-then-centre-crop,
normalisation is inside each model)."""
import dataclasses
import functools
from typing import Callable

from biglogit import BiglogitError
from biglogit.classifiers import cifar_inception, cifar_resnet, efficientnet_lite, inception_v3, torchvision_resnet
from biglogit.classifiers import vnn_resnet


@dataclasses.dataclass(frozen=True)
class InputPolicy:
  """Resize the shorter side to `resize`, centre-crop `resolution` (resize == resolution: plain resize)."""
  resolution: int
  resize: int


@dataclasses.dataclass(frozen=True)
class ArchSpec:
  build: Callable  # (num_classes=..., **kw) -> nn.Module
  num_classes: int
  policy: InputPolicy


CIFAR = InputPolicy(32, 32)
IMAGENET_224 = InputPolicy(224, 256)
IMAGENET_299 = InputPolicy(299, 342)

ARCHITECTURES = {
    **{f"cifar_resnet{d}": ArchSpec(functools.partial(cifar_resnet.CifarResNet, depth=d), 10, CIFAR)
       for d in (20, 32, 44, 56, 110)},
    "cifar_inception": ArchSpec(cifar_inception.CifarInception, 10, CIFAR),
    "vnn_resnet2b": ArchSpec(vnn_resnet.resnet2b, 10, CIFAR),
    "vnn_resnet4b": ArchSpec(vnn_resnet.resnet4b, 10, CIFAR),
    **{f"resnet{d}": ArchSpec(functools.partial(torchvision_resnet.resnet, d), 1000, IMAGENET_224)
       for d in (50, 101, 152)},
    "inception_v3": ArchSpec(inception_v3.InceptionV3, 1000, IMAGENET_299),
    "efficientnet_lite0": ArchSpec(efficientnet_lite.EfficientNetLite0, 1000, IMAGENET_224),
}


def arch_spec(arch: str) -> ArchSpec:
  if arch in ARCHITECTURES:
    return ARCHITECTURES[arch]
  if arch.startswith("cifar_resnet") and arch[len("cifar_resnet"):].isdigit():
    depth = int(arch[len("cifar_resnet"):])  # any 6n+2
    if (depth - 2) % 6 == 0:
      return ArchSpec(functools.partial(cifar_resnet.CifarResNet, depth=depth), 10, CIFAR)
  raise BiglogitError(f"unknown classifier architecture {arch!r}; use one of {sorted(ARCHITECTURES)} "
                      "or cifar_resnetN with N = 6n+2")


def build(arch: str, **kwargs):
  spec = arch_spec(arch)
  kwargs.setdefault("num_classes", spec.num_classes)
  return spec.build(**kwargs)
