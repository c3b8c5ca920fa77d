"""The CPU filter gradient of models/conv.py computes the same convolution gradients as XLA's."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from biglogit.models import conv as conv_lib

NHWC = ("NHWC", "HWIO", "NHWC")


def _grads(conv_fn, x, w, cotangent, padding):
  loss = lambda x, w: jnp.vdot(conv_fn(x, w, (1, 1), padding, dimension_numbers=NHWC), cotangent)
  return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(x, w)


@pytest.mark.parametrize("batch,height,width,c_in,c_out,kernel,padding", [
    (4, 32, 32, 16, 24, 3, "SAME"),           # a BigGAN-32 block shape, at test size
    (3, 16, 20, 16, 16, 3, [(1, 1), (1, 1)]),  # not square; flax's explicit padding
    (2, 17, 19, 16, 32, 5, [(2, 2), (2, 2)]),  # 5x5, odd sizes
    (2, 16, 16, 32, 16, 1, [(0, 0), (0, 0)]),  # 1x1 (shortcut convolutions)
])
def test_gradients_equal_xlas(batch, height, width, c_in, c_out, kernel, padding, monkeypatch):
  monkeypatch.setattr(conv_lib, "MIN_CHANNELS", 16)  # the math at test size; the threshold is tested below
  assert _uses_matrix_product_gradient((batch, height, width, c_in), (kernel, kernel, c_in, c_out), padding=padding)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((batch, height, width, c_in)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((kernel, kernel, c_in, c_out)), jnp.float32)
  cotangent = jnp.asarray(rng.standard_normal((batch, height, width, c_out)), jnp.float32)
  (value, (dx, dw)) = _grads(conv_lib.conv_general_dilated, x, w, cotangent, padding)
  (ref_value, (ref_dx, ref_dw)) = _grads(lax.conv_general_dilated, x, w, cotangent, padding)
  assert float(value) == pytest.approx(float(ref_value), rel=1e-6)
  np.testing.assert_array_equal(dx, ref_dx)  # the input gradient is XLA's own
  np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-4 * float(jnp.abs(ref_dw).max()))


def _uses_matrix_product_gradient(x_shape, w_shape, strides=(1, 1), padding="SAME"):
  x, w = jnp.zeros(x_shape), jnp.zeros(w_shape)
  fn = lambda x, w: conv_lib.conv_general_dilated(x, w, strides, padding, dimension_numbers=NHWC).sum()
  # the custom gradient chooses its CPU form per platform at lowering: a platform_index in the jaxpr
  return "platform_index" in str(jax.make_jaxpr(jax.grad(fn, argnums=1))(x, w))


def test_only_covered_convolutions_take_the_matrix_product_gradient():
  assert _uses_matrix_product_gradient((2, 32, 32, 64), (3, 3, 64, 64))
  assert _uses_matrix_product_gradient((2, 16, 16, 64), (1, 1, 64, 128))
  assert not _uses_matrix_product_gradient((2, 32, 32, 32), (3, 3, 32, 32))  # 32 channels: XLA's
  assert not _uses_matrix_product_gradient((2, 8, 8, 64), (3, 3, 64, 64))  # small images: XLA's
  assert not _uses_matrix_product_gradient((2, 32, 32, 64), (3, 3, 64, 3))  # 3 output channels
  assert not _uses_matrix_product_gradient((2, 32, 32, 3), (3, 3, 3, 64))  # RGB input
  assert not _uses_matrix_product_gradient((2, 32, 32, 64), (3, 3, 64, 64), strides=(2, 2))
  assert not _uses_matrix_product_gradient((2, 32, 32, 64), (3, 3, 64, 64), padding="VALID")


def test_sharded_batch_gives_the_same_filter_gradient(monkeypatch):
  """The reduction over a batch split across devices goes through the mesh's all-reduce."""
  monkeypatch.setattr(conv_lib, "MIN_CHANNELS", 16)
  devices = jax.devices()
  if len(devices) < 2:
    pytest.skip("needs several (virtual) devices")
  mesh = jax.sharding.Mesh(np.array(devices[:2]), ("batch",))
  spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((4, 16, 16, 16)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((3, 3, 16, 16)), jnp.float32)
  cotangent = jnp.asarray(rng.standard_normal((4, 16, 16, 16)), jnp.float32)
  _, (_, dw) = _grads(conv_lib.conv_general_dilated, jax.device_put(x, spec), w,
                      jax.device_put(cotangent, spec), "SAME")
  _, (_, ref_dw) = _grads(lax.conv_general_dilated, x, w, cotangent, "SAME")
  np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-4 * float(jnp.abs(ref_dw).max()))
