"""The one declared schema of every config key: its type, its range or choices, which method or mode
reads it, and its role in a run. `check(config)` is the only place a config is judged, before any mesh,
dataset or compile; `upgrade(dict)` is the only place an older config.json is read forward.

Roles (what a key means to a run, used by the resume guard and the compile cache):
  trajectory  changes what the run learns: recorded at the first start (run_history.json); a resume
              with another value is refused (resume_guard.py)
  loop        the loop's own length (train.num_steps, train.budget_hours): not part of the step program
  start       read once, before the first step (warm start): not part of the step program
  free        everything else: logging, evaluation, paths, architecture (the checkpoint's signature
              guards that)
`legacy` is what a config.json written before the key existed meant (default: today's default), so
code reads every key as a plain attribute.
"""
import dataclasses
import difflib
import math
from typing import Any, Callable, Dict, Optional, Tuple

import ml_collections

from biglogit import BiglogitError
from biglogit import classifiers
from biglogit.config_base import base_config, classifier_base_config
from biglogit.models import arch as arch_lib

_TODAY = object()  # `legacy` default: a config from before the key meant today's default


@dataclasses.dataclass(frozen=True)
class Setting:
  type: type  # int, float, str, bool, list or dict (float accepts an int; int never a bool)
  low: Optional[float] = None  # inclusive bounds
  high: Optional[float] = None
  above: Optional[float] = None  # exclusive bounds
  below: Optional[float] = None
  choices: Optional[Tuple] = None
  check: Optional[Callable[[Any], None]] = None  # raises BiglogitError on a bad value (a spec string)
  used_when: Optional[Tuple[str, Callable[[Any], bool]]] = None  # (what enables it, predicate(config))
  role: str = "free"
  legacy: Any = _TODAY
  hint: str = ""  # an example of a good value, for the error line
  nonempty: bool = False  # a string that must say something

  @property
  def has_legacy(self) -> bool:
    return self.legacy is not _TODAY

  def allowed(self) -> str:
    """What the key accepts, in words."""
    if self.choices is not None:
      return "one of " + ", ".join(repr(c) for c in self.choices)
    noun = {int: "an integer", float: "a finite number", str: "a non-empty string" if self.nonempty else "a string",
            bool: "True or False",
            list: "a list of finite numbers", dict: "a mapping"}[self.type]
    n = lambda v: (f"{int(v):,}" if abs(v) >= 10_000 else str(int(v))) if float(v).is_integer() else f"{v:g}"
    lo = (f"[{n(self.low)}" if self.low is not None else f"({n(self.above)}" if self.above is not None else None)
    hi = (f"{n(self.high)}]" if self.high is not None else f"{n(self.below)})" if self.below is not None else None)
    if lo and hi and lo.startswith("[") and hi.endswith("]"):
      bounds = f" from {lo[1:]} to {hi[:-1]}"
    elif lo and hi:
      bounds = f" in {lo}, {hi}"
    elif lo:
      bounds = f" of at least {lo[1:]}" if lo.startswith("[") else f" above {lo[1:]}"
    elif hi:
      bounds = f" of at most {hi[:-1]}" if hi.endswith("]") else f" below {hi[:-1]}"
    else:
      bounds = ""
    return noun + bounds + (f" (e.g. {self.hint})" if self.hint else "")

  def problem(self, value) -> Optional[str]:
    """None if `value` is acceptable, else the reason in words (without the key)."""
    ok_type = {int: lambda v: isinstance(v, int) and not isinstance(v, bool),
               float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
               str: lambda v: isinstance(v, str), bool: lambda v: isinstance(v, bool),
               list: lambda v: isinstance(v, (list, tuple)) and all(
                   isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v),
               dict: lambda v: isinstance(v, (dict, ml_collections.ConfigDict))}[self.type]
    if not ok_type(value):
      return self.allowed()
    if self.choices is not None and value not in self.choices:
      return self.allowed()
    if self.nonempty and not value.strip():
      return self.allowed()
    if ((self.low is not None and value < self.low) or (self.high is not None and value > self.high) or
        (self.above is not None and value <= self.above) or (self.below is not None and value >= self.below)):
      return self.allowed()
    return None


def _size(high, low=1, **kw) -> Setting:
  """A count that allocates memory or time: at least `low`, at most what a machine can hold."""
  return Setting(int, low=low, high=high, **kw)


def _weight(**kw) -> Setting:
  return Setting(float, low=0.0, **kw)


def _rate(**kw) -> Setting:
  return Setting(float, above=0.0, **kw)


def _fraction(**kw) -> Setting:
  return Setting(float, low=0.0, below=1.0, **kw)


def _every(**kw) -> Setting:
  return Setting(int, low=0, high=10**9, **kw)


def _path(**kw) -> Setting:
  return Setting(str, **kw)


# The vocabularies of the comma-separated settings (augment.py and evaluate/trivial_inverters.py take theirs from
# here: one declaration).
DIFF_AUGMENT_POLICIES = ("color", "translation", "cutout")
BASELINE_KINDS = ("constant", "mean", "class_mean", "nearest_logits")


def _subset_of(key: str, names: Tuple[str, ...]):
  def check(value):
    unknown = [n for n in (p.strip() for p in value.split(",")) if n and n not in names]
    if unknown:
      raise BiglogitError(f"{key}={value!r}: {unknown[0]!r} is not one; use a comma-separated subset of "
                          f"{', '.join(names)}, or '' for none")
  return check


FID_EXTRACTOR_KINDS = ("inception", "classifier")


def parse_fid_extractor(value: str) -> Tuple[str, str]:
  """eval.fid_extractor 'KIND:DIR' -> (KIND, DIR); the one reading of that grammar (evaluate/nets.py
  builds the extractor from it)."""
  kind, sep, directory = value.partition(":")
  if not sep or kind not in FID_EXTRACTOR_KINDS or not directory:
    raise BiglogitError(f"eval.fid_extractor={value!r}; use 'inception:DIR' (a converted Inception-V3) or "
                        "'classifier:DIR' (a stand-in extractor), or '' to skip FID/KID")
  return kind, directory


def _fid_extractor(value):
  if value:
    parse_fid_extractor(value)


def _classifier_arch(value):
  classifiers.arch_spec(value)


_gan = lambda c: c.method == "gan"
_deepsim = lambda c: c.method == "deepsim"
_hybrid = lambda c: c.method == "gan" and (c.train.hybrid_pixel_weight > 0 or c.train.hybrid_feature_weight > 0)
_standardize = lambda c: c.conditioning.normalize == "standardize"

GAN: Dict[str, Setting] = {
    "kind": Setting(str, choices=("gan",)),
    "method": Setting(str, choices=("gan", "deepsim"), role="trajectory"),
    "seed": Setting(int, low=0, high=2**31 - 1, role="trajectory"),
    "model.resolution": Setting(int, choices=tuple(sorted(arch_lib.G_ARCH))),
    "model.num_classes": _size(100_000),
    "model.ch_g": _size(1024),
    "model.ch_d": _size(1024),
    "model.dim_z": _size(4096),
    "model.cond_hidden": _size(8192),
    "model.g_attention": Setting(int, low=0, high=256, hint="0 (none) or a block's resolution"),
    "model.d_attention": Setting(int, low=0, high=256, hint="0 (none) or a block's resolution"),
    "model.compute_dtype": Setting(str, choices=("float32", "bfloat16"), role="trajectory"),
    "train.global_batch": _size(1 << 20, role="trajectory"),
    "train.num_steps": _size(10**9, role="loop"),
    "train.d_steps": _size(100, role="trajectory"),
    "train.grad_accum": _size(4096, role="trajectory", legacy=1),
    "train.g_lr": _rate(role="trajectory", hint="1e-4"),
    "train.d_lr": _rate(role="trajectory", hint="4e-4"),
    "train.b1": _fraction(role="trajectory"),
    "train.b2": _fraction(role="trajectory", hint="0.999"),
    "train.adam_eps": _rate(role="trajectory", hint="1e-6"),
    "train.ema_decay": _fraction(role="trajectory", hint="0.999"),
    "train.ema_start": _every(role="trajectory"),
    "train.budget_hours": Setting(float, low=0.0, high=10_000.0, role="loop", legacy=0.0, hint="0 (none) or 0.5"),
    "train.mismatch_weight": _weight(role="trajectory", legacy=0.0),
    "train.diff_augment": Setting(str, check=_subset_of("train.diff_augment", DIFF_AUGMENT_POLICIES), role="trajectory", legacy=""),
    "train.consistency_weight": _weight(role="trajectory", legacy=0.0),
    "train.consistency_classifier": _path(used_when=("train.consistency_weight > 0",
                                                     lambda c: c.train.consistency_weight > 0)),
    "train.hybrid_pixel_weight": _weight(used_when=("method=gan", _gan), role="trajectory", legacy=0.0),
    "train.hybrid_feature_weight": _weight(used_when=("method=gan", _gan), role="trajectory", legacy=0.0),
    "train.init_from": _path(role="start"),
    "train.init_parts": Setting(str, choices=("weights", "all"), role="start",
                                used_when=("train.init_from", lambda c: bool(c.train.init_from))),
    "conditioning.normalize": Setting(str, choices=("standardize", "unit_norm", "none"), role="trajectory",
                                      legacy="none"),
    "conditioning.mean": Setting(list, used_when=("conditioning.normalize=standardize", _standardize)),
    "conditioning.std": Setting(list, used_when=("conditioning.normalize=standardize", _standardize)),
    "data.dataset": Setting(str, role="trajectory"),
    "data.data_dir": _path(),
    "data.source": _path(),
    "data.classifier": _path(),
    "data.train_split": Setting(str, nonempty=True, role="trajectory", hint="'train'"),
    "data.eval_split": Setting(str),
    "data.num_read_threads": _size(256),
    "data.prefetch": _size(1024),
    "data.in_memory": Setting(bool, legacy=False),
    "data.worker_count": Setting(int, low=0, high=1024, legacy=0),
    "release.kind": Setting(str, choices=("full", "softmax", "topk", "top1", "rounded"), role="trajectory"),
    "release.k": _size(100_000, role="trajectory", used_when=("release.kind=topk",
                                                              lambda c: c.release.kind == "topk")),
    "release.decimals": Setting(int, low=0, high=10, role="trajectory",
                                used_when=("release.kind=rounded", lambda c: c.release.kind == "rounded")),
    "deepsim.pixel_weight": _weight(role="trajectory", used_when=("method=deepsim", _deepsim)),
    "deepsim.feature_weight": _weight(role="trajectory", used_when=("method=deepsim", _deepsim)),
    "deepsim.adversarial_weight": _weight(role="trajectory", used_when=("method=deepsim", _deepsim)),
    "deepsim.comparator": _path(used_when=("method=deepsim or a hybrid loss", lambda c: _deepsim(c) or _hybrid(c))),
    "deepsim.comparator_layer": Setting(str, used_when=("method=deepsim or a hybrid loss",
                                                        lambda c: _deepsim(c) or _hybrid(c))),
    "deepsim.hidden": _size(65_536, used_when=("method=deepsim", _deepsim)),
    "eval.split": Setting(str, nonempty=True, hint="'test'"),
    "eval.num_examples": _size(10_000_000),
    "eval.batch_size": _size(65_536),
    "eval.classifier": _path(),
    "eval.identifier": _path(),
    "eval.robust_features": _path(),
    "eval.fid_extractor": Setting(str, check=_fid_extractor),
    "eval.noise_samples": _size(1024, low=0),
    "eval.noise_examples": _size(1_000_000, low=0),
    "eval.bootstrap": _size(1_000_000),
    "eval.fid_bootstrap": _size(10_000),
    "eval.baselines": Setting(str, check=_subset_of("eval.baselines", BASELINE_KINDS)),
    "eval.nearest_distance": Setting(str, choices=("cosine", "l2")),
    "eval.class_mean_by": Setting(str, choices=("label", "prediction")),
    "eval.baseline_reference_examples": _size(100_000_000, low=0),
    "eval.every": _every(),
    "eval.every_hours": Setting(float, low=0.0, high=10_000.0, legacy=0.0, hint="0 (off) or 0.5"),
    "eval.at_end": Setting(bool),
    "log_every": _size(10**9),
    "checkpoint_every": _size(10**9),
    "keep_checkpoints": _size(1000),
    "image_every": _every(),
    "num_grid_images": _size(256),
}

CLASSIFIER: Dict[str, Setting] = {
    "kind": Setting(str, choices=("classifier",)),
    "seed": Setting(int, low=0, high=2**31 - 1),
    "model.arch": Setting(str, check=_classifier_arch),
    "model.num_classes": _size(100_000),
    "model.module_kwargs": Setting(dict),
    "data.source": Setting(str, nonempty=True, hint="'tfds:cifar10' or a tarball"),
    "data.train_split": Setting(str, nonempty=True),
    "data.eval_split": Setting(str, nonempty=True),
    "data.limit": _size(100_000_000, low=0, hint="0 (every image)"),
    "data.eval_limit": _size(100_000_000, low=0, hint="0 (every image)"),
    "data.num_read_threads": _size(256),
    "data.prefetch": _size(1024),
    "data.holdout": _size(10_000_000, low=0),
    "train.global_batch": _size(1 << 20),
    "train.num_epochs": _size(100_000),
    "train.learning_rate": _rate(hint="0.1"),
    "train.momentum": _fraction(),
    "train.weight_decay": _weight(),
    "train.crop_padding": Setting(int, low=0, high=64),
    "adversarial.enabled": Setting(bool),
    # The attack's settings are read only with adversarial.enabled, yet not refused without it: a config
    # presets its attack so that one flag switches it on, and a standard/robust pair shares every setting
    # but the objective (configs/classifier_cifar10.py).
    "adversarial.eps": Setting(float, above=0.0, high=1.0, hint="8/255"),
    "adversarial.method": Setting(str, choices=("pgd", "fgsm_rs")),
    "adversarial.step_size": Setting(float, above=0.0, high=1.0, hint="2/255"),
    "adversarial.steps": _size(1000),
    "adversarial.fgsm_step": Setting(float, above=0.0, high=10.0, hint="1.25"),
    "adversarial.guard_every": _every(),
    "adversarial.guard_drop": Setting(float, above=0.0, below=1.0, hint="0.5"),
    "evaluation.pgd_eps": Setting(float, above=0.0, high=1.0, hint="8/255"),
    "evaluation.pgd_step_size": Setting(float, above=0.0, high=1.0),
    "evaluation.pgd_steps": _size(1000),
    "evaluation.pgd_examples": _size(10_000_000),
    "log_every": _size(10**9),
    "checkpoint_every": _size(10**9),
    "keep_checkpoints": _size(1000),
}

SCHEMAS = {"gan": GAN, "classifier": CLASSIFIER}


def schema_of(config) -> Dict[str, Setting]:
  kind = config.get("kind", "gan")
  if kind not in SCHEMAS:
    raise BiglogitError(f"kind={kind!r}; use one of {', '.join(map(repr, SCHEMAS))} (start from a file in configs/)")
  return SCHEMAS[kind]


def flatten(tree, schema: Dict[str, Setting], prefix: str = "") -> Dict[str, Any]:
  """{dotted key: value}; a key the schema declares as a mapping stays one value."""
  out = {}
  for key, value in tree.items():
    name = prefix + key
    if isinstance(value, (dict, ml_collections.ConfigDict)) and not (name in schema and schema[name].type is dict):
      out.update(flatten(value, schema, name + "."))
    else:
      out[name] = value
  return out


def keys_with_role(role: str, kind: str = "gan") -> Tuple[str, ...]:
  return tuple(k for k, s in SCHEMAS[kind].items() if s.role == role)


def _defaults(kind: str):
  return flatten((base_config() if kind == "gan" else classifier_base_config()).to_dict(), SCHEMAS[kind])


def check(config, relations: bool = True) -> None:
  """Refuses, in one line naming the key, its value and what is allowed: a key no schema declares, a
  declared key missing, a value of the wrong type or out of range, and (with `relations`) a setting
  changed from its default that the chosen method or mode never reads and values that contradict each
  other. Pure: no files, devices or datasets are touched. Loaders of written configs pass
  relations=False: a run trained under older rules loads as it was trained."""
  schema = schema_of(config)
  kind = config.get("kind", "gan")
  values = flatten(config.to_dict() if hasattr(config, "to_dict") else config, schema)
  for key in values:
    if key not in schema:
      close = difflib.get_close_matches(key, schema, n=1)
      raise BiglogitError(f"{key} is not a setting of a {kind} config" +
                          (f" (did you mean {close[0]}?)" if close else "") +
                          "; remove it or use a key that config_base.py declares")
  for key in schema:
    if key not in values:
      raise BiglogitError(f"the config has no {key}; start from config_base.py's defaults (or load an older "
                          "config.json through config_schema.upgrade)")
  for key, setting in schema.items():
    value = values[key]
    reason = setting.problem(value)
    if reason is None and setting.check is not None:
      setting.check(value)  # its own line: it knows the spec's grammar
    if reason is not None:
      raise BiglogitError(f"{key}={value!r}; use {reason}")
  if not relations:
    return
  defaults = _defaults(kind)
  for key, setting in schema.items():
    if setting.used_when and not setting.used_when[1](config) and values[key] != defaults[key]:
      needs = setting.used_when[0]
      raise BiglogitError(f"{key}={values[key]!r} is used only with {needs}, which this config does not have; "
                          f"remove the setting or set {needs.split(' ')[0]}")
  for relation in RELATIONS[kind]:
    relation(config)


# Values that contradict each other: each a function of the whole config that raises.
def _attention_at_a_block(c):
  m = c.model
  for name, value, table in (("g_attention", m.g_attention, arch_lib.g_arch(m.resolution)),
                             ("d_attention", m.d_attention, arch_lib.d_arch(m.resolution))):
    if value and value not in table.resolution:
      raise BiglogitError(f"model.{name}={value} is no block's resolution at {m.resolution}px (they are "
                          f"{', '.join(map(str, sorted(set(table.resolution))))}); use one of them or 0 (none)")


def _latent_chunks(c):
  arch_lib.latent_chunks(c.model.dim_z, len(arch_lib.g_arch(c.model.resolution).out_mult))


def _topk_within_classes(c):
  if c.release.kind == "topk" and c.release.k > c.model.num_classes:
    raise BiglogitError(f"release.k={c.release.k}; use 1 <= k <= model.num_classes ({c.model.num_classes})")


# The consistency loss compares release(phi(G(z))) with release(z) and needs gradients through the
# release: top-1, top-k and rounding are piecewise constant.
CONSISTENCY_RELEASES = ("full", "softmax")


def _micro_batches_divide_the_batch(c):
  if c.train.global_batch % c.train.grad_accum:
    raise BiglogitError(f"train.grad_accum={c.train.grad_accum} does not divide train.global_batch="
                        f"{c.train.global_batch}; use a divisor of it (micro-batches are global_batch / grad_accum)")


def _workers_or_memory(c):
  if c.data.in_memory and c.data.worker_count:
    raise BiglogitError(f"data.worker_count={c.data.worker_count} with data.in_memory=True: a split in memory has "
                        "nothing to decode, and each worker would hold a copy of it; use one of the two")


def _consistency_differentiable(c):
  if c.train.consistency_weight > 0 and c.release.kind not in CONSISTENCY_RELEASES:
    raise BiglogitError(f"train.consistency_weight={c.train.consistency_weight} needs a differentiable release, "
                        f"and release.kind={c.release.kind!r} is not; use release.kind=full or softmax, or "
                        "train.consistency_weight=0")


def _statistics_per_class(c):
  mean, std, n = list(c.conditioning.mean), list(c.conditioning.std), c.model.num_classes
  if c.conditioning.normalize == "standardize" and (mean or std):
    if len(mean) != n or len(std) != n:
      raise BiglogitError(f"conditioning.mean/std have {len(mean)}/{len(std)} values for model.num_classes={n}; "
                          "leave both empty to take them from the logits dataset")
    if not all(s > 0 for s in std):
      raise BiglogitError("conditioning.std must be above 0; leave conditioning.mean/std empty to take them from "
                          "the logits dataset")


def _guard_has_images(c):
  if c.adversarial.guard_every and not c.data.holdout:
    raise BiglogitError("adversarial.guard_every needs held-out images to attack: set data.holdout=N (e.g. 500), "
                        "or adversarial.guard_every=0")


RELATIONS = {"gan": (_attention_at_a_block, _latent_chunks, _topk_within_classes, _micro_batches_divide_the_batch,
                     _workers_or_memory, _consistency_differentiable, _statistics_per_class),
             "classifier": (_guard_has_images,)}


def upgrade(tree: Dict) -> ml_collections.ConfigDict:
  """A config.json of any era -> a config with every key of today's schema: a key written before it
  existed takes its `legacy` meaning (a config from before the conditioning key means normalize='none',
  raw logits), never today's default where the two differ."""
  kind = tree.get("kind", "gan")
  if kind not in SCHEMAS:
    raise BiglogitError(f"config.json has kind={kind!r}; it was not written by biglogit")
  schema, defaults = SCHEMAS[kind], _defaults(kind)
  config = ml_collections.ConfigDict(tree)
  for key, setting in schema.items():
    section, _, name = key.rpartition(".")
    parent = config
    if section:
      for part in section.split("."):
        if part not in parent:
          parent[part] = ml_collections.ConfigDict()
        parent = parent[part]
    if name not in parent:
      value = defaults[key] if setting.legacy is _TODAY else setting.legacy
      parent[name] = ml_collections.ConfigDict(value) if isinstance(value, dict) else value
  return config
