"""Dosovitskiy & Brox 2016a (DeePSiM) decoder: a deterministic map from the logit vector to the image.

Fully connected layers from the logits to a 4x4 grid, then per block: 2x upsampling + conv, as the
paper's "up-convolutions", LeakyReLU(0.3) throughout, tanh output. Channel widths follow the
generator's table (models/arch.py) so that the baseline and the GAN have comparable capacity. The
call signature matches the Generator's, so the trainer, checkpoints and evaluation treat both alike;
eps is ignored because the decoder is deterministic.
"""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from biglogit.models import arch as arch_lib
from biglogit.models.arch import BOTTOM_WIDTH
from biglogit.models.conv import Conv
from biglogit.models.generator import upsample2x

NEGATIVE_SLOPE = 0.3


class Decoder(nn.Module):
  resolution: int
  ch: int
  hidden: int = 1024  # width of the fully connected layers from the logits
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, logits, eps, train: bool):
    del eps, train  # deterministic, and no batch statistics
    act = lambda h: nn.leaky_relu(h, NEGATIVE_SLOPE)
    table = arch_lib.g_arch(self.resolution)
    h = logits.astype(self.dtype)
    h = act(nn.Dense(self.hidden, dtype=self.dtype, name="fc1")(h))
    h = act(nn.Dense(self.hidden, dtype=self.dtype, name="fc2")(h))
    c0 = table.in_mult[0] * self.ch
    h = act(nn.Dense(BOTTOM_WIDTH * BOTTOM_WIDTH * c0, dtype=self.dtype, name="fc3")(h))
    h = h.reshape(h.shape[0], BOTTOM_WIDTH, BOTTOM_WIDTH, c0)
    for i, out_mult in enumerate(table.out_mult):
      h = upsample2x(h)
      h = act(Conv(out_mult * self.ch, (3, 3), dtype=self.dtype, name=f"up{i}_conv1")(h))
      h = act(Conv(out_mult * self.ch, (3, 3), dtype=self.dtype, name=f"up{i}_conv2")(h))
    h = Conv(3, (3, 3), dtype=self.dtype, name="to_rgb")(h)
    return jnp.tanh(h.astype(jnp.float32))
