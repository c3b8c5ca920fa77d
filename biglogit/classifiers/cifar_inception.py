"""The small Inception for CIFAR-10 of Zhang et al. 2017 ("Understanding deep learning requires
rethinking generalization", appendix), with a width multiplier.

Multi-branch blocks whose outputs are concatenated along channels:
  inception(c1, c3)   a 1x1 and a 3x3 convolution of the same input, side by side
  downsample(c3)      a stride-2 3x3 convolution beside a stride-2 3x3 max-pool
each convolution followed by batch norm and ReLU. The network (channels at width 1):
  conv 3x3 96 -> inception(32, 32) -> inception(32, 48) -> downsample(80)
  -> inception(112, 48) -> inception(96, 64) -> inception(80, 80) -> inception(48, 96) -> downsample(96)
  -> inception(176, 160) -> inception(176, 160) -> global mean pool -> dense
At width 1 it has 1,651,114 parameters (the paper's "about 1.65M"); at width 0.4 264,926, about the CIFAR
ResNet-20's 269,722: the Inception of the ResNet-vs-Inception pair (configs/classifier_cifar10.py).
"""
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from biglogit.classifiers.torch_layers import CIFAR_MEAN, CIFAR_STD, batch_norm, conv, normalize

STEM = 96
STAGES = (("inception", 32, 32), ("inception", 32, 48), ("downsample", 80),
          ("inception", 112, 48), ("inception", 96, 64), ("inception", 80, 80), ("inception", 48, 96),
          ("downsample", 96),
          ("inception", 176, 160), ("inception", 176, 160))


class ConvBNReLU(nn.Module):
  features: int
  kernel: int
  stride: int = 1

  @nn.compact
  def __call__(self, x, train):
    h = conv(self.features, self.kernel, self.stride, self.kernel // 2, name="conv")(x)
    return nn.relu(batch_norm(train, name="bn")(h))


class Inception(nn.Module):
  ch1: int
  ch3: int

  @nn.compact
  def __call__(self, x, train):
    return jnp.concatenate([ConvBNReLU(self.ch1, 1, name="branch1x1")(x, train),
                            ConvBNReLU(self.ch3, 3, name="branch3x3")(x, train)], axis=-1)


class Downsample(nn.Module):
  ch3: int

  @nn.compact
  def __call__(self, x, train):
    pooled = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    return jnp.concatenate([ConvBNReLU(self.ch3, 3, 2, name="branch3x3")(x, train), pooled], axis=-1)


class CifarInception(nn.Module):
  num_classes: int = 10
  width: float = 1.0  # every block's channels times this (rounded, at least 1)
  mean: Sequence[float] = CIFAR_MEAN
  std: Sequence[float] = CIFAR_STD

  @nn.compact
  def __call__(self, x, train: bool = False, features: bool = False):
    scaled = lambda c: max(1, int(round(c * self.width)))
    h = ConvBNReLU(scaled(STEM), 3, name="stem")(normalize(x, self.mean, self.std), train)
    for i, (kind, *channels) in enumerate(STAGES):
      block = Inception if kind == "inception" else Downsample
      h = block(*map(scaled, channels), name=f"{kind}{i}")(h, train)
    pooled = jnp.mean(h, axis=(1, 2))
    if features:
      return pooled
    return nn.Dense(self.num_classes, name="linear")(pooled)
