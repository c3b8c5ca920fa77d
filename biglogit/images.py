"""Images in one place: the range conversions (G's [-1, 1], evaluation's [0, 1], uint8), resizing,
grids and PNG writing, and the padded batching every network application uses."""
import io
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from biglogit import files


def to_unit(images_m1_1):
  """G's tanh range [-1, 1] -> [0, 1]."""
  return jnp.clip((images_m1_1 + 1.0) / 2.0, 0.0, 1.0)


def to_uint8(images) -> np.ndarray:
  """[-1, 1] floats (G's range) -> uint8."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def unit_to_uint8(images01) -> np.ndarray:
  """[0, 1] floats (reconstructions as evaluation sees them) -> uint8."""
  return np.clip(np.round(np.asarray(images01, np.float32) * 255.0), 0, 255).astype(np.uint8)


def image_grid(columns, pad: int = 2) -> np.ndarray:
  """columns: list of uint8 [N, H, W, 3] arrays -> one uint8 image, a row per example."""
  n, h, w, _ = columns[0].shape
  k = len(columns)
  grid = np.full((n * (h + pad) + pad, k * (w + pad) + pad, 3), 255, np.uint8)
  for j, col in enumerate(columns):
    for i in range(n):
      y, x = pad + i * (h + pad), pad + j * (w + pad)
      grid[y:y + h, x:x + w] = col[i]
  return grid


def save_png(path: str, image: np.ndarray, upscale: int = 1):
  img = Image.fromarray(image)
  if upscale > 1:
    img = img.resize((img.width * upscale, img.height * upscale), Image.NEAREST)
  buffer = io.BytesIO()
  img.save(buffer, format="PNG")
  files.atomic_write(path, buffer.getvalue())


def resize_to(x, resolution: int):
  """Bilinear resize of float NHWC images to resolution x resolution (no-op when already there)."""
  if x.shape[1] == resolution and x.shape[2] == resolution:
    return x
  return jax.image.resize(x, (x.shape[0], resolution, resolution, x.shape[3]), "bilinear")


def pad_batch(arrays, batch_size: int):
  """(arrays padded along the leading axis to batch_size by repeating their last row, valid count):
  a fixed shape, so the last, shorter batch reuses the program the full ones compiled."""
  valid = len(arrays[0])
  if valid < batch_size:
    arrays = [np.concatenate([a, np.repeat(a[-1:], batch_size - valid, axis=0)]) for a in arrays]
  return list(arrays), valid


def batched_apply(fn: Callable, *arrays, batch_size: int) -> np.ndarray:
  """fn over the leading axis in batches of exactly batch_size (the last one padded), so one jitted
  program serves any number of examples."""
  n = len(arrays[0])
  outs = []
  for start in range(0, n, batch_size):
    chunk, valid = pad_batch([a[start:start + batch_size] for a in arrays], batch_size)
    outs.append(np.asarray(jax.device_get(fn(*chunk)))[:valid])
  return np.concatenate(outs) if outs else np.zeros((0,))
