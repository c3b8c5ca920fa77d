"""CIFAR ResNet-(6n+2) with option-A shortcuts (He et al. 2016; the akamaster checkpoints)."""
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from biglogit import BiglogitError
from biglogit.classifiers.torch_layers import IMAGENET_MEAN, IMAGENET_STD, batch_norm, conv, normalize


class BasicBlockA(nn.Module):
  planes: int
  stride: int

  @nn.compact
  def __call__(self, x, train):
    h = conv(self.planes, 3, self.stride, 1, name="conv1")(x)
    h = nn.relu(batch_norm(train, name="bn1")(h))
    h = conv(self.planes, 3, 1, 1, name="conv2")(h)
    h = batch_norm(train, name="bn2")(h)
    shortcut = x
    if self.stride != 1 or x.shape[-1] != self.planes:
      # Option A: subsample, then zero-pad planes/4 channels on each side. No parameters.
      shortcut = x[:, ::2, ::2, :]
      p = self.planes // 4
      shortcut = jnp.pad(shortcut, ((0, 0), (0, 0), (0, 0), (p, p)))
    return nn.relu(h + shortcut)


class CifarResNet(nn.Module):
  depth: int = 20
  num_classes: int = 10
  width: int = 16  # channels of the first stage (16 in the paper; wider variants for own training)
  mean: Sequence[float] = IMAGENET_MEAN
  std: Sequence[float] = IMAGENET_STD

  @nn.compact
  def __call__(self, x, train: bool = False, features: bool = False):
    if (self.depth - 2) % 6:
      raise BiglogitError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, ...), got {self.depth}")
    n = (self.depth - 2) // 6
    h = normalize(x, self.mean, self.std)
    h = nn.relu(batch_norm(train, name="bn1")(conv(self.width, 3, 1, 1, name="conv1")(h)))
    for stage, (mult, stride) in enumerate(((1, 1), (2, 2), (4, 2))):
      for i in range(n):
        h = BasicBlockA(self.width * mult, stride if i == 0 else 1, name=f"layer{stage + 1}.{i}")(h, train)
    pooled = jnp.mean(h, axis=(1, 2))
    if features:
      return pooled
    return nn.Dense(self.num_classes, name="linear")(pooled)
