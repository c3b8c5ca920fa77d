"""Images in one place: the range conversions (G's [-1, 1], evaluation's [0, 1], uint8), resizing,
grids and PNG writing, and the padded batching every network application uses."""
import io
import textwrap
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


HEADER_ROW = 12  # pixels per line of text in a label band (Pillow's default bitmap font is ~11 high)


def labelled_grid(columns, titles, row_labels=None, upscale: int = 1, pad: int = 2) -> np.ndarray:
  """image_grid, upscaled, with each column's title drawn in a white band above it (wrapped to the
  column's width) and, where rows differ, each row's label in a band to the left: a picture copied
  anywhere still says what it shows."""
  from PIL import ImageDraw, ImageFont
  if len(titles) != len(columns):
    raise ValueError(f"{len(titles)} titles for {len(columns)} columns")
  grid = image_grid(columns, pad)
  n, h, w, _ = columns[0].shape
  cell_w = (w + pad) * upscale
  font = ImageFont.load_default()
  char_w = max(1.0, font.getlength("abcdefghijklmnopqrstuvwxyz_0123456789") / 37)
  # wrapped at spaces and after underscores (run names), long words cut
  wrap = lambda text, width: [l.replace("_ ", "_") for l in
                              textwrap.wrap(text.replace("_", "_ "), max(1, int(width // char_w)))] or [""]
  title_lines = [wrap(str(t), cell_w - 2) for t in titles]
  header = HEADER_ROW * max(len(t) for t in title_lines) + 4
  labels = [str(l) for l in row_labels] if row_labels is not None else []
  left = (max(int(font.getlength(l)) for l in labels) + 8) if labels else 0
  body = Image.fromarray(grid).resize((grid.shape[1] * upscale, grid.shape[0] * upscale), Image.NEAREST)
  canvas = Image.new("RGB", (body.width + left, body.height + header), (255, 255, 255))
  canvas.paste(body, (left, header))
  draw = ImageDraw.Draw(canvas)
  for j, lines in enumerate(title_lines):
    for k, line in enumerate(lines):
      draw.text((left + pad * upscale + j * cell_w, 2 + k * HEADER_ROW), line, fill=(0, 0, 0), font=font)
  for i, label in enumerate(labels):
    y = header + (pad + i * (h + pad)) * upscale + (h * upscale - HEADER_ROW) // 2
    draw.text((4, y), label, fill=(0, 0, 0), font=font)
  return np.asarray(canvas)


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
  program serves any number of examples. fn may return a tuple of arrays: each is batched alike."""
  n = len(arrays[0])
  outs = []
  for start in range(0, n, batch_size):
    chunk, valid = pad_batch([a[start:start + batch_size] for a in arrays], batch_size)
    outs.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[:valid], jax.device_get(fn(*chunk))))
  return jax.tree_util.tree_map(lambda *parts: np.concatenate(parts), *outs) if outs else np.zeros((0,))
