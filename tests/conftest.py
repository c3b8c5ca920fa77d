"""Test setup: 8 simulated CPU devices (set before jax is imported), a persistent compile cache so
identical programs compile once per session, and small generated datasets."""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import sys  # noqa: E402
sys.path.insert(0, REPO)  # configs/ is imported as a package
SHARED = os.path.join(os.path.dirname(REPO), "shared")

jax.config.update("jax_compilation_cache_dir", os.path.join(REPO, ".pytest_cache", "jax_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def shared_path(*parts):
  path = os.path.join(SHARED, *parts)
  if not os.path.exists(path):
    pytest.skip(f"{path} is absent (../shared not beside the checkout)")
  return path


def toy_arrays(n, resolution=32, num_classes=10, seed=0):
  """A learnable toy task: each image is a flat colour, and the logits encode that colour."""
  rng = np.random.default_rng(seed)
  colours = rng.uniform(0, 1, (n, 3)).astype(np.float32)
  images = np.broadcast_to((colours * 255).astype(np.uint8)[:, None, None, :],
                           (n, resolution, resolution, 3)).copy()
  logits = np.zeros((n, num_classes), np.float32)
  logits[:, :3] = colours * 4 - 2
  logits[:, 3:] = rng.normal(0, 0.1, (n, num_classes - 3))
  labels = (colours.argmax(-1)).astype(np.int64)
  return {"image": images, "logits": logits, "label": labels}


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory):
  from biglogit.data import dataset as dataset_lib
  root = str(tmp_path_factory.mktemp("data"))
  path = dataset_lib.write_numpy_dataset(
      root, "toy", {"train": toy_arrays(96), "test": toy_arrays(16, seed=1)},
      metadata={"source": "toy"})
  return str(path)


@pytest.fixture
def tiny_config(toy_dataset):
  from configs import tiny
  c = tiny.get_config()
  c.data.dataset = toy_dataset
  return c


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
  """split/<class>/<file> images: 2 classes, 12 train + 6 test, one corrupt file, one odd-sized JPEG."""
  from PIL import Image
  root = tmp_path_factory.mktemp("images")
  rng = np.random.default_rng(0)
  for split, n in (("train", 6), ("test", 3)):
    for cls in ("cat", "dog"):
      os.makedirs(root / split / cls)
      for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / split / cls / f"{i}.png")
  (root / "train" / "cat" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
  Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(root / "train" / "dog" / "big.jpg")
  return str(root)
