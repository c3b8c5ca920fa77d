"""The declared schema (config_schema.py) as the class it is meant to close: every key of every config
declared, every declared key's bad values refused as a pure function call, ignored settings refused,
older config.json files read forward to the settings they were trained with."""
import glob
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from biglogit import BiglogitError
from biglogit import config_schema as S
from biglogit import resume_guard
from biglogit.config_base import base_config, classifier_base_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config_module(path):
  spec = importlib.util.spec_from_file_location(f"schema_test_{os.path.basename(path)[:-3]}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def shipped_configs():
  """(file, variant) of every config in configs/, each of its variants (VARIANTS, or PHI x SCALE)."""
  out = []
  for path in sorted(glob.glob(os.path.join(REPO, "configs", "*.py"))):
    if path.endswith("__init__.py"):
      continue
    module = _config_module(path)
    if hasattr(module, "CLASSIFIERS") and hasattr(module, "SCALES"):
      variants = [f"{p},{s}" for p in module.CLASSIFIERS for s in module.SCALES]
    else:
      variants = list(getattr(module, "VARIANTS", [])) or [None]
    out += [(os.path.basename(path), v) for v in variants]
  return out


SHIPPED = shipped_configs()


def _load(name, variant):
  module = _config_module(os.path.join(REPO, "configs", name))
  return module.get_config(variant) if variant is not None else module.get_config()


@pytest.mark.parametrize("name,variant", SHIPPED, ids=[f"{n}:{v}" for n, v in SHIPPED])
def test_every_shipped_config_is_declared_and_passes(name, variant):
  config = _load(name, variant)
  schema = S.schema_of(config)
  keys = set(S.flatten(config.to_dict(), schema))
  assert keys == set(schema), f"undeclared {sorted(keys - set(schema))}, missing {sorted(set(schema) - keys)}"
  S.check(config)


def test_the_defaults_are_the_schema():
  for config in (base_config(), classifier_base_config()):
    schema = S.schema_of(config)
    assert set(S.flatten(config.to_dict(), schema)) == set(schema)
    S.check(config)


def _bad_values(setting):
  """Values the setting must refuse: the wrong type always, and each side of its range or choices."""
  wrong_type = {int: [1.5, "3", True], float: ["0.1", float("nan"), float("inf"), None], str: [3, None],
                bool: [1, "yes"], list: ["1,2", [float("nan")]], dict: [3, "width=4"]}[setting.type]
  bad = list(wrong_type)
  if setting.choices is not None:
    bad.append("not-a-choice" if setting.type is str else max(setting.choices) + 1)
  step = 1 if setting.type is int else 1e-3
  if setting.low is not None:
    bad.append(setting.low - step)
  if setting.above is not None:
    bad.append(setting.above)
  if setting.high is not None:
    bad.append(setting.high + step)
  if setting.below is not None:
    bad.append(setting.below)
  if setting.nonempty:
    bad.append("  ")
  return bad


def _set(config, key, value):
  section, _, name = key.rpartition(".")
  parent = config
  for part in section.split(".") if section else []:
    parent = parent[part]
  with parent.unlocked() if hasattr(parent, "unlocked") else _nothing():
    parent._fields[name] = value  # past ConfigDict's own type check: the schema is what is tested


class _nothing:
  def __enter__(self):
    return self

  def __exit__(self, *a):
    return False


ALL_KEYS = [(kind, key) for kind, schema in S.SCHEMAS.items() for key in schema]


@pytest.mark.parametrize("kind,key", ALL_KEYS, ids=[f"{k}:{key}" for k, key in ALL_KEYS])
def test_every_key_refuses_its_bad_values_in_one_line(kind, key):
  setting = S.SCHEMAS[kind][key]
  for value in _bad_values(setting):
    config = base_config() if kind == "gan" else classifier_base_config()
    _set(config, key, value)
    with pytest.raises(BiglogitError) as info:
      S.check(config)
    message = str(info.value)
    assert "\n" not in message
    assert key in message or (setting.check is not None and type(value) is setting.type), (key, value, message)


def test_an_undeclared_or_missing_key_is_refused():
  config = base_config()
  config.train.g_lrr = 1e-4
  with pytest.raises(BiglogitError, match=r"train.g_lrr is not a setting of a gan config \(did you mean train.g_lr\?\)"):
    S.check(config)
  config = base_config()
  del config.eval["bootstrap"]
  with pytest.raises(BiglogitError, match="the config has no eval.bootstrap"):
    S.check(config)


def _valid_other(setting, default, config):
  """A valid value different from `default`, for the ignored-setting test."""
  if setting.choices is not None:
    return next(c for c in setting.choices if c != default)
  if setting.type is bool:
    return not default
  if setting.type is str:
    return "x" if setting.check is None else default
  if setting.type is list:
    return [1.0] * config.model.num_classes
  low = setting.low if setting.low is not None else (setting.above or 0) + (1 if setting.type is int else 0.5)
  value = low + 1 if setting.type is int else low + 0.25
  if setting.high is not None:
    value = min(value, setting.high)
  return value if value != default else value + (1 if setting.type is int else 0.125)


# Configs in which a key's reader is off: the defaults, the other method, raw logits.
def _switches(kind):
  if kind == "gan":
    deepsim, raw = base_config(), base_config()
    deepsim.method = "deepsim"
    raw.conditioning.normalize = "none"
    return [base_config(), deepsim, raw]
  return [classifier_base_config()]


CONDITIONAL = [(kind, key) for kind, key in ALL_KEYS if S.SCHEMAS[kind][key].used_when]


@pytest.mark.parametrize("kind,key", CONDITIONAL, ids=[f"{k}:{key}" for k, key in CONDITIONAL])
def test_a_setting_the_run_would_ignore_is_refused(kind, key):
  setting = S.SCHEMAS[kind][key]
  off = [c for c in _switches(kind) if not setting.used_when[1](c)]
  assert off, f"no test config leaves {key} unused; add one to _switches"
  config = off[0]
  default = S.flatten(config.to_dict(), S.SCHEMAS[kind])[key]
  other = _valid_other(setting, default, config)
  assert other != default, key
  _set(config, key, other)
  with pytest.raises(BiglogitError, match=rf"^{key}=.* is used only with {setting.used_when[0]}"):
    S.check(config)
  S.check(config, relations=False)  # a written config of older rules still loads


def test_contradicting_values_are_refused():
  config = base_config()
  config.model.g_attention = 12
  with pytest.raises(BiglogitError, match="model.g_attention=12 is no block's resolution at 32px"):
    S.check(config)
  config = base_config()
  config.release.kind, config.release.k = "topk", 11
  with pytest.raises(BiglogitError, match=r"release.k=11; use 1 <= k <= model.num_classes \(10\)"):
    S.check(config)
  config = base_config()
  config.release.kind, config.train.consistency_weight = "top1", 0.1
  with pytest.raises(BiglogitError, match="needs a differentiable release"):
    S.check(config)
  config = base_config()
  config.model.dim_z = 3
  with pytest.raises(BiglogitError, match="model.dim_z=3 is smaller than the 4 latent chunks"):
    S.check(config)
  config = base_config()
  config.train.global_batch, config.train.grad_accum = 256, 3
  with pytest.raises(BiglogitError, match="train.grad_accum=3 does not divide train.global_batch=256"):
    S.check(config)
  config = base_config()
  config.conditioning.normalize, config.conditioning.mean, config.conditioning.std = "standardize", [0.0] * 3, [1.0] * 3
  with pytest.raises(BiglogitError, match="conditioning.mean/std have 3/3 values for model.num_classes=10"):
    S.check(config)
  config = base_config()
  config.data.in_memory, config.data.worker_count = True, 4
  with pytest.raises(BiglogitError, match="data.worker_count=4 with data.in_memory=True"):
    S.check(config)
  config = classifier_base_config()
  config.adversarial.guard_every = 10
  with pytest.raises(BiglogitError, match="adversarial.guard_every needs held-out images"):
    S.check(config)
  assert len(S.RELATIONS["gan"]) + len(S.RELATIONS["classifier"]) == 8  # each relation has its case above


COMMITTED = sorted(glob.glob(os.path.join(REPO, "pretrained", "*", "*", "config.json")) +
                   glob.glob(os.path.join(REPO, "runs", "*", "*", "config.json")))


@pytest.mark.parametrize("path", COMMITTED, ids=[os.path.relpath(p, REPO) for p in COMMITTED])
def test_every_committed_config_json_reads_forward(path):
  with open(path) as f:
    tree = json.load(f)
  config = S.upgrade(tree)
  S.check(config, relations=False)
  flat_before = S.flatten(tree, S.schema_of(config))
  flat_after = S.flatten(config.to_dict(), S.schema_of(config))
  assert {k: flat_after[k] for k in flat_before} == flat_before  # what was written is kept as written


def test_a_config_from_before_the_conditioning_key_means_raw_logits():
  """The first era (pretrained/tinyimagenet/effnet_lite0_gan: no conditioning, loss or budget keys):
  raw logits and the paper's loss, not today's defaults."""
  path = os.path.join(REPO, "pretrained", "tinyimagenet", "effnet_lite0_gan", "config.json")
  with open(path) as f:
    tree = json.load(f)
  assert "conditioning" not in tree
  config = S.upgrade(tree)
  assert config.conditioning.normalize == "none" and base_config().conditioning.normalize == "standardize"
  assert (config.train.mismatch_weight, config.train.diff_augment, config.train.consistency_weight,
          config.train.budget_hours, config.data.in_memory) == (0.0, "", 0.0, 0.0, False)
  # and today's config round-trips unchanged
  today = base_config()
  assert S.upgrade(json.loads(json.dumps(today.to_dict()))).to_dict() == today.to_dict()


HISTORIES = sorted(glob.glob(os.path.join(REPO, "runs", "*", "*", "run_history.json")))


@pytest.mark.parametrize("path", HISTORIES, ids=[os.path.relpath(p, REPO) for p in HISTORIES])
def test_committed_runs_resume_with_the_trajectory_they_recorded(path):
  """The schema's trajectory roles reproduce what each committed run recorded at its last start, so
  every one of them resumes without --allow_changed_resume."""
  with open(path) as f:
    recorded = json.load(f)["trajectory"]
  with open(os.path.join(os.path.dirname(path), "config.json")) as f:
    config = S.upgrade(json.load(f))

  class Spec:  # the dataset's identity is the dataset's, not the config's
    num_examples = num_classes = resolution = 0
    metadata = class_names = None

  current = resume_guard.identity(config, Spec, recorded["device_count"])
  for key in ("dataset_identity", "device_count"):
    current.pop(key), recorded.pop(key)
  assert current == recorded


def test_the_modules_take_their_choices_from_the_schema():
  from biglogit import state
  from biglogit.classifiers import fit as classifier_train
  from biglogit.data import conditioning, release
  from biglogit.evaluate import trivial_inverters
  assert state.METHODS == S.GAN["method"].choices
  assert tuple(state.COMPUTE_DTYPES) == S.GAN["model.compute_dtype"].choices
  assert release.KINDS == S.GAN["release.kind"].choices
  assert conditioning.NORMALIZERS == S.GAN["conditioning.normalize"].choices
  assert trivial_inverters.DISTANCES == S.GAN["eval.nearest_distance"].choices
  assert classifier_train.METHODS == S.CLASSIFIER["adversarial.method"].choices
  assert "train.num_steps" in S.keys_with_role("loop") and "train.init_from" in S.keys_with_role("start")


def test_main_refuses_an_out_of_range_key_with_exit_2_and_writes_nothing(tmp_path):
  workdir = tmp_path / "run"
  out = subprocess.run([sys.executable, "-m", "biglogit.main", "--config=configs/tiny.py",
                        f"--workdir={workdir}", "--config.model.cond_hidden=0"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
  assert out.returncode == 2, out.stderr[-2000:]
  assert out.stderr.strip().splitlines()[-1] == "error: model.cond_hidden=0; use an integer from 1 to 8192"
  assert not workdir.exists()
