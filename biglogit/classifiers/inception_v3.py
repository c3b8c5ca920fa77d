"""torchvision Inception-V3 (eval path; the auxiliary head is training-only and not built).

Normalisation: torchvision's pretrained weights come with transform_input=True, which turns ImageNet
mean/std inputs into (x - 0.5) / 0.5; that is this model's default.
"""
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from biglogit.classifiers.torch_layers import batch_norm, conv, normalize


class BasicConv2d(nn.Module):
  features: int
  kernel: object
  stride: int = 1
  padding: object = 0

  @nn.compact
  def __call__(self, x, train):
    h = conv(self.features, self.kernel, self.stride, self.padding, name="conv")(x)
    return nn.relu(batch_norm(train, eps=1e-3, name="bn")(h))


def _avg3(x):  # avg_pool2d(3, stride 1, pad 1), count_include_pad=True as in torch
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=True)


def _max3s2(x):
  return nn.max_pool(x, (3, 3), (2, 2))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x, train):
    b1 = BasicConv2d(64, 1, name="branch1x1")(x, train)
    b5 = BasicConv2d(48, 1, name="branch5x5_1")(x, train)
    b5 = BasicConv2d(64, 5, padding=2, name="branch5x5_2")(b5, train)
    b3 = BasicConv2d(64, 1, name="branch3x3dbl_1")(x, train)
    b3 = BasicConv2d(96, 3, padding=1, name="branch3x3dbl_2")(b3, train)
    b3 = BasicConv2d(96, 3, padding=1, name="branch3x3dbl_3")(b3, train)
    bp = BasicConv2d(self.pool_features, 1, name="branch_pool")(_avg3(x), train)
    return jnp.concatenate([b1, b5, b3, bp], -1)


class InceptionB(nn.Module):

  @nn.compact
  def __call__(self, x, train):
    b3 = BasicConv2d(384, 3, stride=2, name="branch3x3")(x, train)
    bd = BasicConv2d(64, 1, name="branch3x3dbl_1")(x, train)
    bd = BasicConv2d(96, 3, padding=1, name="branch3x3dbl_2")(bd, train)
    bd = BasicConv2d(96, 3, stride=2, name="branch3x3dbl_3")(bd, train)
    return jnp.concatenate([b3, bd, _max3s2(x)], -1)


class InceptionC(nn.Module):
  c7: int

  @nn.compact
  def __call__(self, x, train):
    c7 = self.c7
    b1 = BasicConv2d(192, 1, name="branch1x1")(x, train)
    b7 = BasicConv2d(c7, 1, name="branch7x7_1")(x, train)
    b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7, train)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7, train)
    bd = BasicConv2d(c7, 1, name="branch7x7dbl_1")(x, train)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd, train)
    bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd, train)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd, train)
    bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd, train)
    bp = BasicConv2d(192, 1, name="branch_pool")(_avg3(x), train)
    return jnp.concatenate([b1, b7, bd, bp], -1)


class InceptionD(nn.Module):

  @nn.compact
  def __call__(self, x, train):
    b3 = BasicConv2d(192, 1, name="branch3x3_1")(x, train)
    b3 = BasicConv2d(320, 3, stride=2, name="branch3x3_2")(b3, train)
    b7 = BasicConv2d(192, 1, name="branch7x7x3_1")(x, train)
    b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7, train)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7, train)
    b7 = BasicConv2d(192, 3, stride=2, name="branch7x7x3_4")(b7, train)
    return jnp.concatenate([b3, b7, _max3s2(x)], -1)


class InceptionE(nn.Module):

  @nn.compact
  def __call__(self, x, train):
    b1 = BasicConv2d(320, 1, name="branch1x1")(x, train)
    b3 = BasicConv2d(384, 1, name="branch3x3_1")(x, train)
    b3 = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3, train),
                          BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3, train)], -1)
    bd = BasicConv2d(448, 1, name="branch3x3dbl_1")(x, train)
    bd = BasicConv2d(384, 3, padding=1, name="branch3x3dbl_2")(bd, train)
    bd = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd, train),
                          BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd, train)], -1)
    bp = BasicConv2d(192, 1, name="branch_pool")(_avg3(x), train)
    return jnp.concatenate([b1, b3, bd, bp], -1)


class InceptionV3(nn.Module):
  num_classes: int = 1000
  mean: Sequence[float] = (0.5, 0.5, 0.5)
  std: Sequence[float] = (0.5, 0.5, 0.5)

  @nn.compact
  def __call__(self, x, train: bool = False, features: bool = False):
    h = normalize(x, self.mean, self.std)
    h = BasicConv2d(32, 3, stride=2, name="Conv2d_1a_3x3")(h, train)
    h = BasicConv2d(32, 3, name="Conv2d_2a_3x3")(h, train)
    h = BasicConv2d(64, 3, padding=1, name="Conv2d_2b_3x3")(h, train)
    h = _max3s2(h)
    h = BasicConv2d(80, 1, name="Conv2d_3b_1x1")(h, train)
    h = BasicConv2d(192, 3, name="Conv2d_4a_3x3")(h, train)
    h = _max3s2(h)
    h = InceptionA(32, name="Mixed_5b")(h, train)
    h = InceptionA(64, name="Mixed_5c")(h, train)
    h = InceptionA(64, name="Mixed_5d")(h, train)
    h = InceptionB(name="Mixed_6a")(h, train)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
      h = InceptionC(c7, name=name)(h, train)
    h = InceptionD(name="Mixed_7a")(h, train)
    h = InceptionE(name="Mixed_7b")(h, train)
    h = InceptionE(name="Mixed_7c")(h, train)
    pooled = jnp.mean(h, axis=(1, 2))
    if features:
      return pooled
    return nn.Dense(self.num_classes, name="fc")(pooled)
