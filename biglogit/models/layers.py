"""Building blocks shared by G and D: spectrally normalised layers, logit-conditional batch norm,
self-attention.

Spectral-norm power-iteration vectors (`u`, `sigma`) live in the 'batch_stats' collection beside the
batch-norm running statistics, so the training state carries them and the checkpoint restores them.
"""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from biglogit.models.conv import Conv

Dtype = Any
orthogonal = nn.initializers.orthogonal()


class SNConv(nn.Module):
  """Conv with spectral norm (one power iteration per training call) and orthogonal init."""
  features: int
  kernel_size: int = 3
  use_bias: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    pad = self.kernel_size // 2
    conv = Conv(self.features, (self.kernel_size, self.kernel_size), padding=[(pad, pad)] * 2,
                use_bias=self.use_bias, kernel_init=orthogonal, dtype=self.dtype, name="conv")
    return nn.SpectralNorm(conv, n_steps=1, name="sn")(x, update_stats=train)


class SNDense(nn.Module):
  features: int
  use_bias: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    dense = nn.Dense(self.features, use_bias=self.use_bias, kernel_init=orthogonal,
                     dtype=self.dtype, name="dense")
    return nn.SpectralNorm(dense, n_steps=1, name="sn")(x, update_stats=train)


def _normalize(x, train: bool, momentum: float, epsilon: float, name: str = "norm"):
  """flax's BatchNorm without affine parameters: batch statistics in training, running averages in
  evaluation. Mean and variance are computed in float32 in one pass (E[x], E[x^2]); under jit with
  the batch sharded over a mesh they span the global batch, which is exactly cross-replica batch norm
  (eq. 3: E and S over the whole batch being processed)."""
  return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon,
                      use_bias=False, use_scale=False, use_fast_variance=True, name=name)(x)


class ConditionalBatchNorm(nn.Module):
  """Eq. 3: y' = (y - E[y]) / S[y] * gamma(c) + beta(c), gamma and beta two-layer MLPs of c.

  c is the logit vector concatenated with this block's latent chunk, so gamma/beta differ per
  example. gamma is parameterised as 1 + MLP(c) so that an untrained G starts as plain BN.
  """
  hidden: int
  momentum: float = 0.9
  epsilon: float = 1e-4
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, cond, train: bool):
    c = x.shape[-1]
    normed = _normalize(x, train, self.momentum, self.epsilon)

    def mlp(name):
      h = SNDense(self.hidden, dtype=self.dtype, name=f"{name}_1")(cond, train)
      return SNDense(c, dtype=self.dtype, name=f"{name}_2")(nn.relu(h), train)

    gamma = 1.0 + mlp("gamma")
    beta = mlp("beta")
    return normed * gamma[:, None, None, :].astype(x.dtype) + beta[:, None, None, :].astype(x.dtype)


class BatchNorm(nn.Module):
  """Unconditional batch norm with learned affine (the generator's output layer)."""
  momentum: float = 0.9
  epsilon: float = 1e-4

  @nn.compact
  def __call__(self, x, train: bool):
    c = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (c,))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    normed = _normalize(x, train, self.momentum, self.epsilon)
    return normed * scale.astype(x.dtype) + bias.astype(x.dtype)


class SelfAttention(nn.Module):
  """BigGAN's non-local block: x + gamma * attention(x), gamma initialised to 0."""
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    b, h, w, c = x.shape
    theta = SNConv(c // 8, 1, use_bias=False, dtype=self.dtype, name="theta")(x, train)
    phi = SNConv(c // 8, 1, use_bias=False, dtype=self.dtype, name="phi")(x, train)
    g = SNConv(c // 2, 1, use_bias=False, dtype=self.dtype, name="g")(x, train)
    phi = nn.max_pool(phi, (2, 2), (2, 2))
    g = nn.max_pool(g, (2, 2), (2, 2))
    theta = theta.reshape(b, h * w, c // 8)
    phi = phi.reshape(b, -1, c // 8)
    g = g.reshape(b, -1, c // 2)
    attn = jax.nn.softmax(jnp.einsum("bqc,bkc->bqk", theta, phi).astype(jnp.float32), axis=-1)
    o = jnp.einsum("bqk,bkc->bqc", attn.astype(g.dtype), g).reshape(b, h, w, c // 2)
    o = SNConv(c, 1, use_bias=False, dtype=self.dtype, name="o")(o, train)
    gamma = self.param("gamma", nn.initializers.zeros, ())
    return x + gamma.astype(x.dtype) * o
