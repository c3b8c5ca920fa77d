"""D's differentiable augmentation (biglogit/augment.py): each policy does what it says, per image,
differentiably, and an unknown policy is refused before training."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from biglogit import BiglogitError, augment


def _images(b=6, h=16, w=16):
  return jax.random.uniform(jax.random.key(0), (b, h, w, 3), minval=-1.0, maxval=1.0) + 2.0  # no zeros


def test_translation_shifts_each_image_whole_by_at_most_an_eighth():
  x = _images()
  y = np.asarray(augment.translation(jax.random.key(3), x))
  x = np.asarray(x)
  shifts = set()
  for img, out in zip(x, y):
    found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
             if np.array_equal(out, np.roll(np.pad(img, ((2, 2), (2, 2), (0, 0))), (dy, dx), (0, 1))[2:-2, 2:-2])]
    assert len(found) == 1, found  # exactly one shift within 16 / 8 = 2 pixels explains the output
    shifts.add(found[0])
  assert len(shifts) > 1  # drawn per image


def test_cutout_zeroes_one_square_of_half_the_size_per_image():
  x = _images(b=32)
  y = np.asarray(augment.cutout(jax.random.key(5), x))
  zero = (y == 0).all(axis=-1)
  np.testing.assert_array_equal(y[~zero], np.asarray(x)[~zero])  # the rest untouched
  for mask in zero:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    assert len(rows) <= 8 and len(cols) <= 8  # at most 16 / 2 on each side
    assert mask.sum() == len(rows) * len(cols)  # a rectangle (a square clipped by the border)
  assert zero.sum(axis=(1, 2)).max() == 64  # some square lies wholly inside


def test_color_changes_brightness_saturation_contrast_per_image_only():
  x = _images()
  y = augment.color(jax.random.key(7), x)
  assert y.shape == x.shape
  shift = np.asarray(jnp.mean(y - x, axis=(1, 2, 3)))
  assert np.ptp(shift) > 0.05  # drawn per image
  # Each image's output depends on that image alone (its statistics, not the batch's).
  changed = augment.color(jax.random.key(7), x.at[0].multiply(0.5))
  np.testing.assert_allclose(changed[1:], y[1:], rtol=1e-6)
  assert not np.allclose(changed[0], y[0])


def test_policy_applies_in_order_and_passes_gradients_to_the_images():
  x = _images(b=4)
  policy = augment.parse_policy("translation,cutout")
  assert policy == ("translation", "cutout")
  assert augment.diff_augment(jax.random.key(0), x, ()) is x
  grad = jax.grad(lambda x: jnp.sum(augment.diff_augment(jax.random.key(1), x, policy) ** 2))(x)
  y = augment.diff_augment(jax.random.key(1), x, policy)
  # d/dx sum(y^2) is 2y where a pixel survives: non-zero gradients exactly reach the kept pixels.
  assert float(jnp.sum(jnp.abs(grad))) == pytest.approx(float(jnp.sum(2 * jnp.abs(y))), rel=1e-5)


def test_unknown_policy_is_refused_with_the_names_to_use():
  with pytest.raises(BiglogitError, match="color, translation, cutout"):
    augment.parse_policy("translation,flip")
