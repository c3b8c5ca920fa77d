"""Test setup: 8 simulated CPU devices (set before jax is imported), a persistent compile cache so
identical programs compile once per session, and small generated datasets."""
import os

# Compilation, not computation, is most of the suite's time (tiny models, a few steps each). LLVM's
# opt level 0 compiles the tiny models' programs about a third faster (docs/performance.md#what-compilation-is-made-of-and-what-was-tried-2026-11-30)
# and leaves XLA's float semantics as they are; the programs users run keep the default level.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"


def _xla_knows(flag: str) -> bool:
  """XLA aborts a process on a flag it does not know: ask a child once per session (the answer is
  inherited by pytest-xdist's workers and the commands the tests launch)."""
  known = os.environ.get("BIGLOGIT_TEST_XLA_PRESET")
  if known is None:
    import subprocess
    import sys
    probe = subprocess.run([sys.executable, "-c", "import jax; jax.numpy.zeros(1).block_until_ready()"],
                           env={**os.environ, "XLA_FLAGS": flag, "JAX_PLATFORMS": "cpu"}, capture_output=True)
    known = os.environ["BIGLOGIT_TEST_XLA_PRESET"] = "1" if probe.returncode == 0 else "0"
  return known == "1"


# XLA's FAST_COMPILE preset runs fewer HLO optimisations on single-device programs (it does not reach
# SPMD-partitioned ones), where training_loop.jit_init builds a process's state: the inits compile a
# third faster (docs/performance.md#the-state-init-on-one-device-and-xlas-fast_compile-preset-for-the-tests-2026-11-30-later).
# Unlike the opt level it can move a result by an ulp
# (a spectral-norm scale of the init), so a test of a bitwise claim about users' runs checks it in a
# child process with XLA's default passes (test_models.py).
if _xla_knows("--xla_cpu_opt_preset=FAST_COMPILE"):
  TEST_XLA_FLAGS += " --xla_cpu_opt_preset=FAST_COMPILE"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" {TEST_XLA_FLAGS}"
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import sys  # noqa: E402
sys.path.insert(0, REPO)  # configs/ is imported as a package
SHARED = os.path.join(os.path.dirname(REPO), "shared")

# The same cache for this process and the commands the tests launch (python -m biglogit.main reads
# BIGLOGIT_COMPILE_CACHE); point it at an empty folder to time a cold run.
os.environ.setdefault("BIGLOGIT_COMPILE_CACHE", os.path.join(REPO, ".pytest_cache", "jax_cache"))
jax.config.update("jax_compilation_cache_dir", os.environ["BIGLOGIT_COMPILE_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


# The order in which pytest-xdist's workers take the files (--dist loadfile: a worker takes the next
# file when its own runs dry): the files that compile or train for minutes first, so that the two
# workers start on different ones and neither is left alone with a long file at the end. xdist would
# otherwise order files by their number of tests (pytest_configure turns that off). Their seconds:
# docs/performance.md#the-suite-under-8-minutes-one-build-of-the-shared-runs-the-slowest-files-first-2026-11-30-later.
SLOW_FILES_FIRST = (
    "test_bad_input_cli.py",  # builds inverter_runs
    "test_imagenet_path.py",  # the 64-px attention GAN on EfficientNet's 1000 logits
    "test_bad_input.py",
    "test_train.py",
    "test_experiments.py",
    "test_models.py",
    "test_convert.py",
    "test_classifier_train.py",
    "test_notebook.py",
    "test_preemption.py",
    "test_leakage.py",
)


def pytest_configure(config):
  if hasattr(config.option, "loadscopereorder"):  # pytest-xdist is installed
    config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: in-file order kept


def shared_path(*parts):
  path = os.path.join(SHARED, *parts)
  if not os.path.exists(path):
    pytest.skip(f"{path} is absent (../shared not beside the checkout)")
  return path


def compilations(caplog, function: str):
  """The XLA compilations of jitted `function` logged while jax.log_compiles(True) and
  caplog.at_level("WARNING") were on: a test of "compiled once" counts these."""
  return [r.getMessage() for r in caplog.records
          if f"Finished XLA compilation of jit({function})" in r.getMessage()]


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
  """The tiny config on the toy dataset, with the conditioning statistics that training fills in from
  the dataset (data/conditioning.py), so that tests which build a trainer directly can run it."""
  import json
  from biglogit.data import conditioning
  from configs import tiny
  c = tiny.get_config()
  c.data.dataset = toy_dataset
  with open(os.path.join(toy_dataset, "metadata.json")) as f:
    conditioning.resolve(c, json.load(f), None)
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


def save_tiny_classifier(directory, seed):
  """A random-init CIFAR ResNet-8 of width 4 in the converter's on-disk format."""
  from biglogit.classifiers import cifar_resnet
  from biglogit.classifiers import io as cio
  module = cifar_resnet.CifarResNet(depth=8, width=4)
  variables = module.init(jax.random.key(seed), np.zeros((1, 32, 32, 3), np.float32))
  cio.save_classifier(directory, variables, {
      "architecture": "cifar_resnet8", "num_classes": 10, "input_resolution": 32, "resize": 32,
      "mean": list(module.mean), "std": list(module.std), "module_kwargs": {"width": 4},
      "source_sha256": f"random-init-{seed}"})
  return directory


def _eval_settings(c, root):
  e = c.eval
  e.num_examples, e.batch_size = 16, 8
  e.identifier = os.path.join(root, "identifier")
  e.robust_features = os.path.join(root, "identifier")
  e.fid_extractor = "classifier:" + os.path.join(root, "identifier")
  e.noise_samples, e.noise_examples = 3, 8
  e.bootstrap, e.fid_bootstrap = 50, 2


RUN_METHODS = ("gan", "deepsim")


def _build_inverter_runs(root: str):
  """A logits dataset made by a tiny classifier phi, and two tiny trained runs on it: the GAN (with
  periodic evaluation at its last step) and the DeePSiM baseline (seeing only the top-3 logits)."""
  from biglogit import train
  from biglogit.data import dataset as dataset_lib
  from biglogit.evaluate import nets
  from configs import tiny
  phi_dir = save_tiny_classifier(os.path.join(root, "phi"), 0)
  save_tiny_classifier(os.path.join(root, "identifier"), 1)
  phi = nets.Classifier(phi_dir, batch_size=16)
  rng = np.random.default_rng(0)
  splits = {}
  for split, n in (("train", 64), ("test", 32)):
    arrays = toy_arrays(n, seed=0 if split == "train" else 1)
    arrays["image"] = np.clip(arrays["image"].astype(np.int16) +
                              rng.integers(-40, 40, arrays["image"].shape), 0, 255).astype(np.uint8)
    arrays["logits"] = phi.logits(arrays["image"].astype(np.float32) / 255.0)
    labels = arrays["logits"].argmax(-1)
    labels[::4] = (labels[::4] + 1) % 10  # a quarter misclassified
    arrays["label"] = labels
    splits[split] = arrays
  dataset = str(dataset_lib.write_numpy_dataset(root, "phi_logits", splits,
                                                metadata={"classifier_dir": phi_dir}))
  runs = {"root": root, "dataset": dataset, "phi": phi_dir, "identifier": os.path.join(root, "identifier")}
  for method in RUN_METHODS:
    c = tiny.get_config()
    c.data.dataset = dataset
    c.method = method
    if method == "deepsim":  # also exercises a restricted release format end to end
      c.deepsim.hidden = 32
      c.release.kind, c.release.k = "topk", 3
    c.eval.every = 4 if method == "gan" else 0
    _eval_settings(c, root)
    runs[method] = os.path.join(root, method)
    train.train_and_evaluate(c, runs[method])
  return runs


@pytest.fixture(scope="session")
def inverter_runs(tmp_path_factory):
  """_build_inverter_runs' paths in a dict, built once per test session: under pytest-xdist the
  first worker that asks builds them (about 100 s of compiling and training on an idle machine) while
  another that asks meanwhile waits on a file lock (before, each worker built its own). Each worker
  gets its own copy of the two runs, since some tests write into a run (its evaluation) and others
  check that a command changed nothing in one; the dataset and the classifiers are only read."""
  import fcntl
  import json
  import shutil
  basetemp = tmp_path_factory.getbasetemp()
  shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
  root, manifest = shared / "inverter_runs", shared / "inverter_runs.json"
  with open(shared / "inverter_runs.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the build raised
    if not manifest.exists():
      shutil.rmtree(root, ignore_errors=True)  # what a failed build left
      manifest.write_text(json.dumps(_build_inverter_runs(str(root))))
    runs = json.loads(manifest.read_text())
  copies = tmp_path_factory.mktemp("runs")
  for method in RUN_METHODS:
    runs[method] = str(shutil.copytree(runs[method], copies / method, symlinks=True))
  return runs


def main_env(devices: int, compile_cache: bool = True, test_xla_flags: bool = True):
  """Environment for a `python -m biglogit.main` subprocess: `devices` CPU devices and the tests'
  persistent compile cache (so a relaunch does not recompile). test_xla_flags=False compiles as users'
  runs do (for a test that trains for minutes, where run time outweighs compile time).

  Multi-process runs go without the cache: if one process found its program there and the other
  compiled for longer than gloo's 30 s rendezvous timeout, the first collective would fail."""
  env = dict(os.environ)
  flags = TEST_XLA_FLAGS if test_xla_flags else ""
  env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
  env["JAX_PLATFORMS"] = "cpu"
  if compile_cache:
    env["JAX_COMPILATION_CACHE_DIR"] = os.environ["BIGLOGIT_COMPILE_CACHE"]
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
  else:
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  return env


def launch_main(workdir, dataset, *overrides, devices: int = 1, extra_args=(), log=None,
                compile_cache: bool = True):
  """Start the tiny config through the real entry point; returns the Popen."""
  import subprocess
  cmd = [sys.executable, "-m", "biglogit.main", "--config=configs/tiny.py", f"--workdir={workdir}",
         f"--config.data.dataset={dataset}", "--config.image_every=0", *overrides, *extra_args]
  return subprocess.Popen(cmd, cwd=REPO, env=main_env(devices, compile_cache), stdout=log or subprocess.DEVNULL,
                          stderr=subprocess.STDOUT if log else subprocess.DEVNULL)


def flip_bytes_in_array_files(folder):
  """64 bytes flipped in the middle of every array-data file (OCDBT's d/ folders) under `folder`, as a
  failing disk would. Every one, not just the largest: OCDBT keeps a per-process copy that a restore
  may not read, and damage there changes nothing."""
  for root, _, names in os.walk(str(folder)):
    for name in names if os.path.basename(root) == "d" else ():
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        data = bytearray(f.read())
      middle = len(data) // 2
      data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
      with open(path, "wb") as f:
        f.write(bytes(data))


def logged_steps(workdir):
  """{step: metrics} from metrics.jsonl, the last line per step (a resumed run re-logs steps)."""
  import json
  path = os.path.join(str(workdir), "metrics.jsonl")
  if not os.path.exists(path):
    return {}
  out = {}
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except ValueError:  # a line cut by kill -9
        continue
      out[row["step"]] = row
  return out
