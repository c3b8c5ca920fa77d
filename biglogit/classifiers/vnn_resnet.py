"""VNN-COMP 2021 CIFAR ResNet-2B / ResNet-4B: adversarially trained, no batch norm, biased convs."""
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from biglogit.classifiers.torch_layers import CIFAR_MEAN, CIFAR_STD, conv, normalize


class BasicBlockNoBN(nn.Module):
  planes: int
  stride: int

  @nn.compact
  def __call__(self, x):
    h = nn.relu(conv(self.planes, 3, self.stride, 1, bias=True, name="conv1")(x))
    h = conv(self.planes, 3, 1, 1, bias=True, name="conv2")(h)
    shortcut = x
    if self.stride != 1 or x.shape[-1] != self.planes:
      shortcut = conv(self.planes, 1, self.stride, 0, bias=True, name="shortcut.0")(x)
    return nn.relu(h + shortcut)


class VnnResNet(nn.Module):
  """blocks: ((planes, first stride, count) per layer). 2B: stem 8, ((16, 2, 2),); 4B: stem 16, ((32, 2, 2), (32, 2, 2))."""
  stem: int
  layers: Sequence[Sequence[int]]
  num_classes: int = 10
  hidden: int = 100
  mean: Sequence[float] = CIFAR_MEAN
  std: Sequence[float] = CIFAR_STD

  @nn.compact
  def __call__(self, x, train: bool = False, features: bool = False):
    del train  # no batch norm, no dropout
    h = normalize(x, self.mean, self.std)
    h = nn.relu(conv(self.stem, 3, 2, 1, bias=True, name="conv1")(h))
    for li, (planes, stride, count) in enumerate(self.layers):
      for i in range(count):
        h = BasicBlockNoBN(planes, stride if i == 0 else 1, name=f"layer{li + 1}.{i}")(h)
    # PyTorch flattens (C, H, W): transpose NHWC -> NCHW so linear1's weights apply unchanged.
    flat = jnp.transpose(h, (0, 3, 1, 2)).reshape(h.shape[0], -1)
    hidden = nn.relu(nn.Dense(self.hidden, name="linear1")(flat))
    if features:
      return hidden
    return nn.Dense(self.num_classes, name="linear2")(hidden)


def resnet2b(**kw):
  return VnnResNet(stem=8, layers=((16, 2, 2),), **kw)


def resnet4b(**kw):
  return VnnResNet(stem=16, layers=((32, 2, 2), (32, 2, 2)), **kw)
