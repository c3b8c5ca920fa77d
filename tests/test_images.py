"""Pictures that label themselves: every grid the project writes carries its column titles (and row
labels where rows differ) in the PNG itself."""
import glob
import os

import numpy as np
from PIL import Image

from biglogit import images as image_lib


def _text_rows(image, top, bottom, left=0, right=None):
  """How many pixel rows in the band hold dark (text) pixels."""
  band = np.asarray(image)[top:bottom, left:right]
  return int((band.min(axis=(1, 2)) < 100).sum())


def test_labelled_grid_draws_titles_above_and_labels_beside():
  rng = np.random.default_rng(0)
  columns = [np.full((2, 8, 8, 3), 200, np.uint8), rng.integers(150, 255, (2, 8, 8, 3), dtype=np.uint8)]
  plain = image_lib.image_grid(columns)
  grid = image_lib.labelled_grid(columns, ["original", "a long title that wraps"], ["cat", "dog"], upscale=3)
  header = grid.shape[0] - plain.shape[0] * 3
  left = grid.shape[1] - plain.shape[1] * 3
  assert header >= 2 * image_lib.HEADER_ROW and left > 0  # the long title took a second line
  assert _text_rows(grid, 0, header) > 5  # titles drawn
  assert _text_rows(grid, header, grid.shape[0], 0, left) > 5  # row labels drawn
  np.testing.assert_array_equal(grid[header:, left:][::3, ::3], plain)  # the images themselves unchanged
  unlabelled_rows = image_lib.labelled_grid(columns, ["a", "b"])
  assert unlabelled_rows.shape[1] == plain.shape[1]


def test_training_writes_its_grids_with_column_titles(inverter_runs):
  path = sorted(glob.glob(os.path.join(inverter_runs["gan"], "images", "step_*.png")))[-1]
  image = np.asarray(Image.open(path).convert("RGB"))
  n = 4  # tiny config: num_grid_images
  plain_height = (n * (32 + 2) + 2) * 2  # image_grid of 32 px images, upscaled 2x
  header = image.shape[0] - plain_height
  assert header >= image_lib.HEADER_ROW and _text_rows(image, 0, header) > 5
