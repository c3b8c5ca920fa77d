"""G(z, eps): BigGAN residual generator whose every batch norm is modulated by the logits (eq. 3)."""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from biglogit.models import arch as arch_lib
from biglogit.models.layers import (BatchNorm, ConditionalBatchNorm, SelfAttention, SNConv,
                                    SNDense)


def upsample2x(x):
  """Nearest-neighbour 2x upsampling as a broadcast: its gradient is a plain sum over each 2x2
  block, where jax.image.resize's is a scatter (slower on the CPU: docs/measurements.md#numbers-behind-the-code)."""
  b, h, w, c = x.shape
  return jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c)).reshape(b, 2 * h, 2 * w, c)


class GBlock(nn.Module):
  out_channels: int
  cond_hidden: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, cond, train: bool):
    cbn = lambda name: ConditionalBatchNorm(self.cond_hidden, dtype=self.dtype, name=name)
    h = nn.relu(cbn("bn1")(x, cond, train))
    h = upsample2x(h)
    h = SNConv(self.out_channels, 3, dtype=self.dtype, name="conv1")(h, train)
    h = nn.relu(cbn("bn2")(h, cond, train))
    h = SNConv(self.out_channels, 3, dtype=self.dtype, name="conv2")(h, train)
    shortcut = SNConv(self.out_channels, 1, dtype=self.dtype, name="conv_sc")(upsample2x(x), train)
    return h + shortcut


class Generator(nn.Module):
  """x_hat = G(logits, eps). `eps` is split hierarchically: the first chunk feeds the 4x4 input
  layer, chunk i+1 joins the logits in the conditioning vector of block i."""
  resolution: int
  ch: int
  dim_z: int = 120
  cond_hidden: int = 256
  attention_resolution: int = 0  # 0: no self-attention
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, logits, eps, train: bool):
    table = arch_lib.g_arch(self.resolution)
    chunks = arch_lib.latent_chunks(self.dim_z, len(table.out_mult))
    splits = _split(eps, chunks)
    logits = logits.astype(jnp.float32)
    c0 = self.ch * table.in_mult[0]
    h = SNDense(arch_lib.BOTTOM_WIDTH**2 * c0, dtype=self.dtype, name="linear")(splits[0], train)
    h = h.reshape(h.shape[0], arch_lib.BOTTOM_WIDTH, arch_lib.BOTTOM_WIDTH, c0)
    for i, (out_mult, res) in enumerate(zip(table.out_mult, table.resolution)):
      cond = jnp.concatenate([logits, splits[i + 1]], axis=-1)
      h = GBlock(self.ch * out_mult, self.cond_hidden, self.dtype, name=f"block{i}")(h, cond, train)
      if res == self.attention_resolution:
        h = SelfAttention(self.dtype, name=f"attention{i}")(h, train)
    h = nn.relu(BatchNorm(name="bn_out")(h, train))
    h = SNConv(3, 3, dtype=self.dtype, name="conv_out")(h, train)
    return jnp.tanh(h.astype(jnp.float32))


def _split(eps, chunks):
  out, start = [], 0
  for size in chunks:
    out.append(eps[:, start:start + size])
    start += size
  return out
