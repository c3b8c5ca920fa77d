"""python -m biglogit.perf.conv_benchmark [--batch=128]

Where the CPU time of a GAN step goes, one layer at a time: GFLOP/s of a 3x3 'SAME' convolution's
forward pass, input gradient (dx) and filter gradient -- XLA's own (dw_xla) and the one the models
use (dw, models/conv.py: a matrix product on the CPU) -- at the shapes of BigGAN-32's blocks at
ch 16 and 32, and of a large matmul as the machine's reference. Prints one JSON line per shape.
--batch=128 is a D step's real + fake at global batch 64 on one device. See docs/performance.md.
"""
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from biglogit import cli
from biglogit import limits
from biglogit.models import conv as conv_lib

flags.DEFINE_integer("batch", 128, "Images per convolution (a D step sees 2 x global batch).",
                     lower_bound=1, upper_bound=limits.MAX_BATCH)
flags.DEFINE_integer("repeats", 10, "Timed calls per measurement.", lower_bound=1, upper_bound=10_000)
SHAPES = ((32, 64), (16, 64), (8, 64), (32, 128), (16, 128), (8, 128))  # (spatial size, channels)


def _timed(fn, *args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))
  t0 = time.perf_counter()
  for _ in range(repeats):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - t0) / repeats


def xla_conv(x, w):
  return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def model_conv(x, w):
  return conv_lib.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def main(argv):
  del argv
  F = flags.FLAGS
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.random((2048, 2048), np.float32))
  matmul_s = _timed(jax.jit(lambda a: a @ a), a, repeats=F.repeats)
  print(json.dumps({"op": "matmul 2048^3", "gflops_per_s": round(2 * 2048 ** 3 / matmul_s / 1e9, 1)}))
  for size, ch in SHAPES:
    x = jnp.asarray(rng.random((F.batch, size, size, ch), np.float32))
    w = jnp.asarray(rng.random((3, 3, ch, ch), np.float32))
    flops = 2 * F.batch * size * size * ch * ch * 9
    grad = lambda conv, argnum: jax.jit(jax.grad(lambda x, w: conv(x, w).sum(), argnums=argnum))
    row = {"op": "conv3x3", "batch": F.batch, "size": size, "channels": ch}
    for name, fn in (("forward", jax.jit(xla_conv)), ("dx", grad(xla_conv, 0)),
                     ("dw_xla", grad(xla_conv, 1)), ("dw", grad(model_conv, 1))):
      row[f"{name}_gflops_per_s"] = round(flops / _timed(fn, x, w, repeats=F.repeats) / 1e9, 1)
    print(json.dumps(row))


if __name__ == "__main__":
  cli.run(main)
