"""D(x, z) = (w1 + W2 z)^T psi(x): a projection discriminator whose class embedding is a linear map
of the continuous logits (eq. 2), psi a BigGAN residual trunk."""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from biglogit.models import arch as arch_lib
from biglogit.models.layers import SelfAttention, SNConv, SNDense


def avgpool2x(x):
  """2x2 average pooling as a reshape and mean: its gradient is a broadcast, where nn.avg_pool's
  is a dilated reduce-window that XLA's CPU backend runs slowly."""
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class DBlock(nn.Module):
  out_channels: int
  downsample: bool
  preactivation: bool  # False only for the first block, which sees raw pixels
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    h = nn.relu(x) if self.preactivation else x
    h = SNConv(self.out_channels, 3, dtype=self.dtype, name="conv1")(h, train)
    h = SNConv(self.out_channels, 3, dtype=self.dtype, name="conv2")(nn.relu(h), train)
    if self.downsample:
      h = avgpool2x(h)
    learnable_shortcut = x.shape[-1] != self.out_channels or self.downsample
    sc = x
    if learnable_shortcut:
      if self.preactivation:
        sc = SNConv(self.out_channels, 1, dtype=self.dtype, name="conv_sc")(sc, train)
        sc = avgpool2x(sc) if self.downsample else sc
      else:
        sc = avgpool2x(sc) if self.downsample else sc
        sc = SNConv(self.out_channels, 1, dtype=self.dtype, name="conv_sc")(sc, train)
    return h + sc


class Discriminator(nn.Module):
  resolution: int
  ch: int
  attention_resolution: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, logits, train: bool, terms: bool = False):
    """D(x, z); terms=True returns its two terms apart, (w1^T psi(x), (W2 z)^T psi(x)): realism and
    consistency with z, which training logs to show which one drives D (results/conditioning/)."""
    table = arch_lib.d_arch(self.resolution)
    h = x.astype(self.dtype)
    for i, (out_mult, down, res) in enumerate(zip(table.out_mult, table.downsample, table.resolution)):
      h = DBlock(self.ch * out_mult, down, preactivation=i > 0, dtype=self.dtype, name=f"block{i}")(h, train)
      if res == self.attention_resolution:
        h = SelfAttention(self.dtype, name=f"attention{i}")(h, train)
    psi = jnp.sum(nn.relu(h), axis=(1, 2)).astype(jnp.float32)  # psi(x): d-dim features
    # eq. 2 exactly: no bias; w1 judges real vs. synthetic, W2 z judges consistency with the logits.
    w1_term = SNDense(1, use_bias=False, name="w1")(psi, train)[:, 0]
    projection = SNDense(psi.shape[-1], use_bias=False, name="W2")(logits.astype(jnp.float32), train)
    consistency_term = jnp.sum(projection * psi, axis=-1)
    return (w1_term, consistency_term) if terms else w1_term + consistency_term
