"""A drop-in for `lax.conv_general_dilated` whose filter gradient is fast on XLA's CPU backend.

Why: XLA's CPU backend lowers a convolution's filter gradient (dw, a [k, k, C, D] tensor reduced over
batch x height x width) to a convolution with a height x width "kernel", which ran at 3-4 GFLOP/s
at BigGAN-32's 32x32x64 blocks, against about 55 for the forward pass (docs/performance.md). On
the CPU this module computes dw as one matrix product over shifted copies of x and g instead
(`filter_grad`): 24-28 GFLOP/s at that shape. Same sum in another order: results agree with XLA's
to float rounding (tests/test_conv.py).

On GPU/TPU (`lax.platform_dependent`) and for every convolution this does not cover (strides,
dilation, groups, other padding, small images where XLA's own kernel is faster), the gradient is
XLA's. Used by `layers.SNConv` through flax's `nn.Conv(conv_general_dilated=...)`.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

# Below these XLA's own filter gradient is as fast or faster: small images and few channels
# (whole train steps at ch 8 and ch 16: docs/measurements.md#numbers-behind-the-code).
MIN_PIXELS = 16 * 16
MIN_CHANNELS = 64
NHWC = ("NHWC", "HWIO", "NHWC")


def _xla_conv(x, w, padding, precision):
  return lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=NHWC, precision=precision)


def _matmul_t(a, b, precision):
  """a.T @ b in float32 (the reduction runs over the long first axis of both)."""
  return jnp.matmul(a.T, b, precision=precision, preferred_element_type=jnp.float32)


def _side_by_side(shifts):
  """[n, h, w, c] arrays -> [n * h * w, len * c], each pixel's rows side by side: what
  `concatenate(shifts, axis=-1)` gives, bit for bit, built as a stack along a new leading axis (kept
  whole by the barrier) then moved next to the channels. XLA's CPU concatenate along the minor axis
  picks the source of every element; a stack and a transpose are block copies
  (docs/performance.md#the-filter-gradients-copies-as-a-stack-and-a-transpose-2026-11-30-later)."""
  stacked = lax.optimization_barrier(jnp.stack(shifts))  # [len, n, h, w, c]
  return jnp.moveaxis(stacked, 0, -2).reshape(-1, len(shifts) * shifts[0].shape[-1])


def filter_grad(x, g, kernel_size: int, precision=None):
  """dw[i, j, c, d] = sum over n, h, w of x_padded[n, h + i, w + j, c] * g[n, h, w, d] ('SAME', stride 1).

  Read every zero-padded image ([h + 2p, w + 2p], p = k // 2) row-major, the whole batch as one
  sequence u: a tap (i, j) is then the offset i * (w + 2p) + j, and
  dw[i, j] = sum_u x_padded[u + j] * g_placed[u - i * (w + 2p)], with g placed at the top-left of
  its padded image and zero elsewhere. So the k horizontal shifts of x side by side ([u, k*c])
  times the k vertical shifts of g side by side ([u, k*d]) is one matrix product whose [k*c, k*d]
  result holds all k*k taps, at the convolution's FLOPs. Each shift is one `pad` of the 4-d array
  (`_side_by_side` puts them next to each other): a horizontal shift that would wrap into the next
  row lands where g is zero, so the wrapped values may be anything finite.
  """
  c, d = x.shape[-1], g.shape[-1]
  k, p = kernel_size, kernel_size // 2
  if k == 1:  # a 1x1 convolution's filter gradient is one matrix product, no copies
    return _matmul_t(x.reshape(-1, c), g.reshape(-1, d), precision).reshape(1, 1, c, d)
  zero = jnp.zeros((), x.dtype)
  x_shifts = _side_by_side(
      [lax.pad(x, zero, ((0, 0, 0), (p, p, 0), (p - j, p + j, 0), (0, 0, 0))) for j in range(k)])
  g_shifts = _side_by_side(
      [lax.pad(g, zero.astype(g.dtype), ((0, 0, 0), (i, 2 * p - i, 0), (0, 2 * p, 0), (0, 0, 0)))
       for i in range(k)])
  taps = _matmul_t(x_shifts, g_shifts, precision)
  return taps.reshape(k, c, k, d).transpose(2, 0, 1, 3)  # [j, c, i, d] -> [i, j, c, d]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _same_conv(x, w, padding, precision):
  return _xla_conv(x, w, padding, precision)


def _same_conv_fwd(x, w, padding, precision):
  return _xla_conv(x, w, padding, precision), (x, w)


def _same_conv_bwd(padding, precision, residuals, g):
  x, w = residuals
  dx, = jax.linear_transpose(lambda x: _xla_conv(x, w, padding, precision), x)(g)
  xla_dw = lambda x, g: jax.linear_transpose(lambda w: _xla_conv(x, w, padding, precision), w)(g)[0]
  cpu_dw = lambda x, g: filter_grad(x, g, w.shape[0], precision).astype(w.dtype)
  dw = lax.platform_dependent(x, g, cpu=cpu_dw, default=xla_dw)
  return dx, dw


_same_conv.defvjp(_same_conv_fwd, _same_conv_bwd)


def _is_same_padding(padding, k: int) -> bool:
  """'SAME', or k // 2 on each side (what 'SAME' means at stride 1 for an odd kernel)."""
  if isinstance(padding, str):
    return padding == "SAME"
  return tuple(tuple(p) for p in padding) == ((k // 2, k // 2),) * 2


def _is_same_nhwc(x, w, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
                  feature_group_count, batch_group_count) -> bool:
  k = w.shape[0]
  dims = lax.conv_dimension_numbers(x.shape, w.shape, dimension_numbers)
  return (x.ndim == 4 and w.ndim == 4 and w.shape[0] == w.shape[1] and k % 2 == 1
          and min(w.shape[2], w.shape[3]) >= MIN_CHANNELS
          and dims == lax.conv_dimension_numbers(x.shape, w.shape, NHWC)
          and tuple(window_strides) == (1, 1) and _is_same_padding(padding, k)
          and all(v in (None, 1, (1, 1)) for v in (lhs_dilation, rhs_dilation))
          and feature_group_count == 1 and batch_group_count == 1
          and x.shape[1] * x.shape[2] >= MIN_PIXELS)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1,
                         precision=None, preferred_element_type=None):
  """`lax.conv_general_dilated`, with `filter_grad` as the CPU filter gradient where it applies."""
  if preferred_element_type is None and _is_same_nhwc(
      lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
      feature_group_count, batch_group_count):
    return _same_conv(lhs, rhs, ((rhs.shape[0] // 2,) * 2,) * 2, precision)
  return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                  dimension_numbers, feature_group_count, batch_group_count,
                                  precision, preferred_element_type)


# flax's Conv with this module's gradient; same parameters and outputs as nn.Conv.
Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
