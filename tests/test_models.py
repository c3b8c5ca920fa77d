"""Generator / discriminator facts: shapes, parameter counts, spectral norm, conditional BN."""
import os

import jax
import jax.numpy as jnp
import numpy as np

from biglogit import state as state_lib
from biglogit.models import arch as arch_lib
from biglogit.models.layers import ConditionalBatchNorm, SNDense


def _init_vars(config):
  g, d = state_lib.build_models(config.model)
  m = config.model
  logits = jnp.zeros((2, m.num_classes))
  eps = jnp.zeros((2, m.dim_z))
  x = jnp.zeros((2, m.resolution, m.resolution, 3))
  g_vars = jax.eval_shape(lambda: g.init({"params": jax.random.key(0)}, logits, eps, train=True))
  d_vars = jax.eval_shape(lambda: d.init({"params": jax.random.key(0)}, x, logits, train=True))
  return g, d, g_vars, d_vars


def test_output_shapes(tiny_config):
  g, d, _, _ = _init_vars(tiny_config)
  m = tiny_config.model
  logits = jax.random.normal(jax.random.key(1), (3, m.num_classes))
  eps = jax.random.normal(jax.random.key(2), (3, m.dim_z))
  g_vars = g.init({"params": jax.random.key(0)}, logits, eps, train=True)
  x = g.apply(g_vars, logits, eps, train=False)
  assert x.shape == (3, 32, 32, 3)
  assert float(jnp.max(jnp.abs(x))) <= 1.0  # tanh range
  d_vars = d.init({"params": jax.random.key(0)}, x, logits, train=True)
  out = d.apply(d_vars, x, logits, train=False)
  assert out.shape == (3,)


def _expected_counts(config):
  """Independent closed form of the BigGAN-with-logit-MLPs parameter count from the arch table."""
  m = config.model
  conv = lambda k, i, o: k * k * i * o + o
  dense = lambda i, o, bias=True: i * o + (o if bias else 0)
  attn = lambda c: c * c // 8 * 2 + c * c // 2 * 2 + 1
  ga, da = arch_lib.g_arch(m.resolution), arch_lib.d_arch(m.resolution)
  chunks = arch_lib.latent_chunks(m.dim_z, len(ga.out_mult))
  g = dense(chunks[0], 16 * m.ch_g * ga.in_mult[0])
  for i, (cin, cout, res) in enumerate(zip(ga.in_mult, ga.out_mult, ga.resolution)):
    cin, cout = cin * m.ch_g, cout * m.ch_g
    cond = m.num_classes + chunks[i + 1]
    cbn = lambda c: 2 * (dense(cond, m.cond_hidden) + dense(m.cond_hidden, c))
    g += cbn(cin) + cbn(cout) + conv(3, cin, cout) + conv(3, cout, cout) + conv(1, cin, cout)
    g += attn(cout) if res == m.g_attention else 0
  last = ga.out_mult[-1] * m.ch_g
  g += 2 * last + conv(3, last, 3)
  d = 0
  for cin, cout, down, res in zip(da.in_mult, da.out_mult, da.downsample, da.resolution):
    cin = 3 if cin == 0 else cin * m.ch_d
    cout *= m.ch_d
    d += conv(3, cin, cout) + conv(3, cout, cout)
    d += conv(1, cin, cout) if (cin != cout or down) else 0
    d += attn(cout) if res == m.d_attention else 0
  feat = da.out_mult[-1] * m.ch_d
  d += dense(feat, 1, False) + dense(m.num_classes, feat, False)
  return g, d


def test_parameter_counts_tiny_and_imagenet(tiny_config):
  from configs import robust_r152
  for config in (tiny_config, robust_r152.get_config()):
    _, _, g_vars, d_vars = _init_vars(config)
    expected_g, expected_d = _expected_counts(config)
    assert state_lib.count_params(g_vars["params"]) == expected_g
    assert state_lib.count_params(d_vars["params"]) == expected_d
  # BigGAN-128 scale (ch=96): G and D in the tens of millions, as in Brock et al.
  assert 40e6 < expected_g < 150e6 and 40e6 < expected_d < 150e6


def test_spectral_norm_brings_top_singular_value_to_one():
  layer = SNDense(16)
  x = jnp.ones((4, 32))
  variables = layer.init({"params": jax.random.key(0)}, x, train=True)
  params = jax.tree_util.tree_map(lambda p: p * 5.0, variables["params"])  # raw sigma ~5
  w = np.asarray(params["dense"]["kernel"])
  assert np.linalg.svd(w, compute_uv=False)[0] > 4.0
  stats = variables["batch_stats"]
  for _ in range(30):  # persistent power iteration: one step per training call
    _, updated = layer.apply({"params": params, "batch_stats": stats}, x, train=True,
                             mutable=["batch_stats"])
    stats = updated["batch_stats"]
  sigma = float(stats["sn"]["dense/kernel/sigma"])
  assert abs(np.linalg.svd(w / sigma, compute_uv=False)[0] - 1.0) < 1e-3
  # and the layer's effective kernel is that normalised one: y = x W/sigma + b
  y = layer.apply({"params": params, "batch_stats": stats}, x, train=False)
  np.testing.assert_allclose(y, x @ (w / sigma) + params["dense"]["bias"], rtol=1e-4, atol=1e-4)


def test_conditional_bn_gamma_beta_depend_on_logits():
  cbn = ConditionalBatchNorm(hidden=8)
  x = jax.random.normal(jax.random.key(0), (4, 5, 5, 6))
  same_x = jnp.broadcast_to(x[:1], x.shape)
  cond = jax.random.normal(jax.random.key(1), (4, 7))
  variables = cbn.init({"params": jax.random.key(2)}, same_x, cond, train=True)
  # Train mode normalises with the batch statistics; use a batch that is not all one image.
  batch = jnp.concatenate([same_x, x], 0)
  conds = jnp.concatenate([cond, cond], 0)
  y, _ = cbn.apply(variables, batch, conds, train=True, mutable=["batch_stats"])
  y = np.asarray(y)
  # identical inputs, different logits -> different outputs per example
  assert np.abs(y[0] - y[1]).max() > 1e-3
  # identical inputs and identical logits -> identical outputs
  conds_first_two_equal = conds.at[1].set(conds[0])
  y2, _ = cbn.apply(variables, batch, conds_first_two_equal, train=True, mutable=["batch_stats"])
  y2 = np.asarray(y2)
  np.testing.assert_allclose(y2[0], y2[1], atol=1e-6)
  # gamma/beta are functions of the conditioning only: recover them per example from y = n*g + b
  normed = (np.asarray(batch) - np.asarray(batch).mean((0, 1, 2))) / np.sqrt(
      np.asarray(batch).var((0, 1, 2)) + 1e-4)
  g0 = (y[0, 0, 0] - y[0, 0, 1]) / (normed[0, 0, 0] - normed[0, 0, 1])
  g1 = (y[1, 0, 0] - y[1, 0, 1]) / (normed[1, 0, 0] - normed[1, 0, 1])
  assert np.abs(g0 - g1).max() > 1e-4


def test_latent_chunks_match_biggan():
  assert arch_lib.latent_chunks(120, 3) == (30, 30, 30, 30)
  assert arch_lib.latent_chunks(120, 5) == (20,) * 6
  assert sum(arch_lib.latent_chunks(120, 6)) == 120


def test_batch_norm_uses_batch_statistics_in_training_and_running_averages_after():
  """The generator's batch norm (flax's, without affine inside the `norm` scope): the checkpoint
  layout of earlier releases (bn/norm/{mean, var}, bn/{scale, bias}) and BigGAN's momentum 0.9."""
  from biglogit.models.layers import BatchNorm
  x = 2.0 * jax.random.normal(jax.random.key(0), (8, 4, 4, 3)) + 1.0
  bn = BatchNorm()
  variables = bn.init({"params": jax.random.key(1)}, x, train=True)
  assert set(variables["params"]) == {"scale", "bias"}
  assert set(variables["batch_stats"]) == {"norm"} and set(variables["batch_stats"]["norm"]) == {"mean", "var"}
  y, updated = bn.apply(variables, x, train=True, mutable=["batch_stats"])
  xs = np.asarray(x, np.float64)
  mean, var = xs.mean((0, 1, 2)), xs.var((0, 1, 2))
  np.testing.assert_allclose(y, (xs - mean) / np.sqrt(var + 1e-4), atol=1e-4)
  stats = updated["batch_stats"]["norm"]
  np.testing.assert_allclose(stats["mean"], 0.1 * mean, rtol=1e-4, atol=1e-6)  # from 0
  np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * var, rtol=1e-4)  # from 1
  y_eval = bn.apply({"params": variables["params"], "batch_stats": updated["batch_stats"]}, x, train=False)
  np.testing.assert_allclose(y_eval, (xs - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var + 1e-4), atol=1e-4)


def test_the_init_on_one_device_equals_the_init_partitioned_over_the_mesh():
  """training_loop.jit_init builds a single process's state on one device and copies it into its
  shardings: the values must be those of the init partitioned over the 8 devices, bit for bit
  (normal and orthogonal kernels, spectral-norm vectors, batch-norm MLPs). Checked in a child with
  XLA's default HLO passes, as users run them (the tests' FAST_COMPILE preset moves a spectral-norm
  scale by one ulp)."""
  import subprocess
  import sys
  from tests.conftest import REPO
  env = {**os.environ, "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_force_host_platform_device_count=8",
         "JAX_PLATFORMS": "cpu",
         "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
  out = subprocess.run([sys.executable, "-c", _INIT_CHECK], env=env, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0 and out.stdout.strip() == "8 devices, every leaf equal", out.stderr[-3000:]


_INIT_CHECK = """
import flax.linen as nn, jax, jax.numpy as jnp, numpy as np
from biglogit import sharding, training_loop
from biglogit.models.layers import ConditionalBatchNorm, SNConv, SNDense

class Small(nn.Module):
  @nn.compact
  def __call__(self, x, cond, train):
    h = SNConv(8, 3, name="conv")(x, train)
    h = ConditionalBatchNorm(16, name="cbn")(h, cond, train)
    return SNDense(4, name="dense")(h.mean(axis=(1, 2)), train)

x, cond = jnp.zeros((2, 8, 8, 3)), jnp.zeros((2, 10))
init_fn = lambda key: Small().init({"params": key}, x, cond, train=True)
mesh = sharding.make_mesh()
abstract = sharding.sharded_abstract(init_fn, mesh)
one = training_loop.jit_init(init_fn, abstract)(jax.random.key(3))
spmd = jax.jit(init_fn, out_shardings=training_loop.shardings_of(abstract))(jax.random.key(3))
for a, b, s in zip(jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(spmd), jax.tree_util.tree_leaves(abstract)):
  assert a.sharding == s.sharding
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
print(len(mesh.devices.flat), "devices, every leaf equal")
"""
