"""profile_step's per-operation breakdown names the model code that costs the time."""
import jax
import jax.numpy as jnp
import numpy as np

from biglogit.perf import profile_step


def test_top_operations_names_the_costly_operation():
  def fn(a, b):
    with jax.named_scope("big_matmul"):
      big = a @ b
    with jax.named_scope("small_add"):
      small = a[0] + 1.0
    return big, small

  a = jnp.asarray(np.random.default_rng(0).standard_normal((512, 512)), jnp.float32)
  compiled = jax.jit(fn).lower(a, a).compile()
  rows = profile_step.top_operations(compiled, (a, a), repeats=2, top=3)
  assert rows and "big_matmul" in rows[0][2]
  assert all(ms >= 0 and 0 <= share <= 1 for ms, share, _ in rows)
