"""python -m biglogit.conv_benchmark [--batch=128]

Where the CPU time of a GAN step goes, one layer at a time: GFLOP/s of a 3x3 'SAME' convolution's
forward pass, input gradient (dx) and filter gradient (dw) at the shapes of BigGAN-32's blocks, and
of a large matmul as the machine's reference. Prints one JSON line per shape. See docs/performance.md.
"""
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from biglogit import cli

flags.DEFINE_integer("batch", 128, "Images per convolution (a D step sees 2 x global batch).")
flags.DEFINE_integer("repeats", 10, "Timed calls per measurement.")
SHAPES = ((32, 16), (16, 32), (16, 64), (8, 64), (8, 128), (4, 128))  # (spatial size, channels)


def _timed(fn, *args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))
  t0 = time.perf_counter()
  for _ in range(repeats):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - t0) / repeats


def conv(x, w):
  return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


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
    grad = lambda argnum: jax.jit(jax.grad(lambda x, w: conv(x, w).sum(), argnums=argnum))
    row = {"op": "conv3x3", "batch": F.batch, "size": size, "channels": ch}
    for name, fn in (("forward", jax.jit(conv)), ("dx", grad(0)), ("dw", grad(1))):
      row[f"{name}_gflops_per_s"] = round(flops / _timed(fn, x, w, repeats=F.repeats) / 1e9, 1)
    print(json.dumps(row))


if __name__ == "__main__":
  cli.run(main)
