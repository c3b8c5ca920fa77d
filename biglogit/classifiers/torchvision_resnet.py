"""torchvision-layout ResNet-50/101/152 (also the layout of the MadryLab `robustness` ImageNet models)."""
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from biglogit.classifiers.torch_layers import IMAGENET_MEAN, IMAGENET_STD, batch_norm, conv, normalize
DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


class Bottleneck(nn.Module):
  planes: int
  stride: int
  expansion: int = 4

  @nn.compact
  def __call__(self, x, train):
    out = self.planes * self.expansion
    h = nn.relu(batch_norm(train, name="bn1")(conv(self.planes, 1, name="conv1")(x)))
    h = nn.relu(batch_norm(train, name="bn2")(conv(self.planes, 3, self.stride, 1, name="conv2")(h)))
    h = batch_norm(train, name="bn3")(conv(out, 1, name="conv3")(h))
    shortcut = x
    if self.stride != 1 or x.shape[-1] != out:
      shortcut = conv(out, 1, self.stride, name="downsample.0")(x)
      shortcut = batch_norm(train, name="downsample.1")(shortcut)
    return nn.relu(h + shortcut)


class TorchvisionResNet(nn.Module):
  layers: Sequence[int] = DEPTHS[50]
  num_classes: int = 1000
  mean: Sequence[float] = IMAGENET_MEAN
  std: Sequence[float] = IMAGENET_STD

  @nn.compact
  def __call__(self, x, train: bool = False, features: bool = False):
    h = normalize(x, self.mean, self.std)
    h = nn.relu(batch_norm(train, name="bn1")(conv(64, 7, 2, 3, name="conv1")(h)))
    h = nn.max_pool(h, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    for li, count in enumerate(self.layers):
      for i in range(count):
        stride = 2 if (i == 0 and li > 0) else 1
        h = Bottleneck(64 * 2**li, stride, name=f"layer{li + 1}.{i}")(h, train)
    pooled = jnp.mean(h, axis=(1, 2))
    if features:
      return pooled
    return nn.Dense(self.num_classes, name="fc")(pooled)


def resnet(depth: int, **kw):
  return TorchvisionResNet(layers=DEPTHS[depth], **kw)
