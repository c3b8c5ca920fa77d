"""Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020). Not in the paper.

Why: on few images a discriminator memorises the real ones; augmenting every image D sees -- real
and generated alike, with gradients flowing through to G -- delays that, and since both pass through
the same random maps, G is still pushed towards the real images themselves (the learning check's
numbers: docs/measurements.md#numbers-behind-the-code).

Policies (comma-separated, applied in the order given, independent draws per image):
  color        brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)
  translation  shift by up to 1/8 of the size in each direction, zeros shifted in
  cutout       a zeroed square of half the size, centred anywhere in the image
Images are in [-1, 1] (G's tanh range), NHWC.
"""
from typing import Tuple

import jax
import jax.numpy as jnp

from biglogit import BiglogitError
from biglogit import config_schema

POLICIES = config_schema.DIFF_AUGMENT_POLICIES
TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def parse_policy(policy: str) -> Tuple[str, ...]:
  """'translation,cutout' -> ('translation', 'cutout'); '' -> (); an unknown name is a clear error."""
  names = tuple(p.strip() for p in policy.split(",") if p.strip())
  for name in names:
    if name not in POLICIES:
      raise BiglogitError(f"train.diff_augment={policy!r}: {name!r} is not a policy; use a comma-separated "
                          f"subset of {', '.join(POLICIES)}, or '' for none (the paper)")
  return names


def color(rng, x):
  b = x.shape[0]
  k1, k2, k3 = jax.random.split(rng, 3)
  u = lambda k: jax.random.uniform(k, (b, 1, 1, 1), x.dtype)
  x = x + (u(k1) - 0.5)
  mean = jnp.mean(x, axis=3, keepdims=True)
  x = (x - mean) * (2.0 * u(k2)) + mean
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * (u(k3) + 0.5) + mean


def translation(rng, x):
  """Each image shifted by (dy, dx), |dy|, |dx| <= size / 8, reading zeros outside the image."""
  b, h, w, _ = x.shape
  sy, sx = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
  ky, kx = jax.random.split(rng)
  dy = jax.random.randint(ky, (b,), -sy, sy + 1)
  dx = jax.random.randint(kx, (b,), -sx, sx + 1)
  padded = jnp.pad(x, ((0, 0), (sy, sy), (sx, sx), (0, 0)))
  # Output pixel (i, j) reads input pixel (i - dy, j - dx): in the padded image, (i - dy + sy, j - dx + sx).
  window = lambda img, oy, ox: jax.lax.dynamic_slice(img, (oy, ox, 0), (h, w, img.shape[-1]))
  return jax.vmap(window)(padded, sy - dy, sx - dx)


def cutout(rng, x):
  """A square of half the image's size set to 0 (grey), its centre anywhere in the image, so that
  near the border part of it falls outside."""
  b, h, w, _ = x.shape
  ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
  ky, kx = jax.random.split(rng)
  cy = jax.random.randint(ky, (b, 1, 1), 0, h + (1 - ch % 2))
  cx = jax.random.randint(kx, (b, 1, 1), 0, w + (1 - cw % 2))
  rows = jnp.arange(h)[None, :, None]
  cols = jnp.arange(w)[None, None, :]
  inside = ((rows >= cy - ch // 2) & (rows < cy - ch // 2 + ch) &
            (cols >= cx - cw // 2) & (cols < cx - cw // 2 + cw))
  return x * (1.0 - inside[..., None].astype(x.dtype))


FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(rng, x, policy: Tuple[str, ...]):
  """x with every policy of `policy` applied, independently drawn per image; x itself for ()."""
  for name, key in zip(policy, jax.random.split(rng, max(len(policy), 1))):
    x = FUNCTIONS[name](key, x)
  return x
