"""Shared pieces of the Flax classifiers: input normalisation and torch-style conv/BN layers.

Every classifier takes float RGB in [0, 1], NHWC, and applies its own normalisation first.
Submodule names are the PyTorch module paths (e.g. 'layer1.0.conv1'), so a converted state_dict
maps onto the Flax tree mechanically (see convert.py).
"""
from typing import Sequence, Tuple, Union

import flax.linen as nn
import jax.numpy as jnp

IntPair = Union[int, Tuple[int, int]]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2471, 0.2435, 0.2616)


def pair(v: IntPair) -> Tuple[int, int]:
  return (v, v) if isinstance(v, int) else tuple(v)


def normalize(x, mean: Sequence[float], std: Sequence[float]):
  return (x - jnp.asarray(mean, x.dtype)) / jnp.asarray(std, x.dtype)


def conv(features, kernel: IntPair, stride: IntPair = 1, padding: IntPair = 0, bias=False, name=None,
         groups: int = 1):
  """torch.nn.Conv2d semantics: symmetric zero padding of `padding` pixels."""
  ph, pw = pair(padding)
  return nn.Conv(features, pair(kernel), pair(stride), padding=[(ph, ph), (pw, pw)], use_bias=bias,
                 feature_group_count=groups, name=name)


def batch_norm(train: bool, eps: float = 1e-5, name=None):
  """torch.nn.BatchNorm2d (momentum 0.1 in torch = 0.9 here)."""
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=eps, name=name)
