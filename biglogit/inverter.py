"""The seam between training and everything downstream: a trained inverter, x_hat = G(release(z), eps)
with the EMA generator, loaded from a training workdir (any checkpoint) or a release written by
python -m biglogit.export -- one loader for both -- or made from a live training state (periodic
evaluation). It restores onto the state's abstract shape (biglogit.state), never builds a trainer;
evaluation, the experiments, export and the notebook reach trained models only through it."""
import functools
import hashlib
import json
import os
from typing import Optional

import jax
import ml_collections
import orbax.checkpoint as ocp
from etils import epath
import numpy as np

from biglogit import BiglogitError
from biglogit import config_schema
from biglogit import checkpointing
from biglogit import files
from biglogit import images as image_lib
from biglogit import inference
from biglogit import sharding
from biglogit import state as state_lib
from biglogit import steps
from biglogit.data import conditioning

CONFIG_FILE = "config.json"
EXPORT_DIGEST = "generator_sha256.json"  # what export wrote, by file and field: verified by load_export
# The release's JSON files whose every field changes what the release does or says (release.kind, the
# conditioning statistics, the recorded inference settings): digested per field, so an edit is named.
DIGESTED_JSON = ("config.json", "release.json")


def _field_digests(name: str, tree, prefix: str = "") -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict) and value:
      out.update(_field_digests(name, value, f"{prefix}{key}."))
    else:
      out[f"{name}:{prefix}{key}"] = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
  return out


def release_digests(directory: str) -> dict:
  """sha256 of every file of an export's generator/ checkpoint, by path relative to `directory`, and of
  every field of its config.json and release.json, as 'config.json:release.kind' (through etils.epath:
  a release on object storage is checked the same way)."""
  root = epath.Path(directory)

  def walk(folder):  # (epath refuses recursive globs, which cost one request per folder on GCS)
    for child in sorted(folder.iterdir()):
      yield from walk(child) if child.is_dir() else (child,)
  digests = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in walk(root / "generator")}
  for name in DIGESTED_JSON:
    if (root / name).exists():
      tree = files.read_json(root / name, "export the release again rather than editing it")
      digests.update(_field_digests(name, tree if isinstance(tree, dict) else {"": tree}))
  return digests


def write_release_digest(directory: str):
  """Called by export after it wrote (or rewrote) a release's files."""
  files.atomic_write(epath.Path(directory) / EXPORT_DIGEST, json.dumps(release_digests(directory), indent=2))


def verify_export(directory: str):
  """Checked before anything of a release is read: a damaged or edited file is one line naming it (and
  the field, in config.json and release.json); a read of damaged data would fail inside tensorstore,
  or worse, succeed with wrong weights or settings."""
  path = epath.Path(directory) / EXPORT_DIGEST
  if not path.exists():  # releases exported before this check have none
    return
  saved = files.read_json(path, "export the release again")
  found = release_digests(directory)
  if not any(":" in k for k in saved):  # exported before the JSON files were digested: the weights only
    found = {k: v for k, v in found.items() if ":" not in k}
  bad = sorted(k for k in set(saved) | set(found) if saved.get(k) != found.get(k))
  edited = [k for k in bad if ":" in k]
  if edited:
    name, field = edited[0].split(":", 1)
    state = "added" if edited[0] not in saved else "removed" if edited[0] not in found else "changed"
    raise BiglogitError(f"{directory}/{name} was edited ({field} {state}" +
                        (f", and {len(edited) - 1} more field(s)" if len(edited) > 1 else "") +
                        f" since export, per {EXPORT_DIGEST}); export the release again rather than editing it")
  if bad:
    raise BiglogitError(f"{directory} is damaged: {len(bad)} file(s) of generator/ differ from "
                        f"{EXPORT_DIGEST} (first: {bad[0]}); export it again with python -m biglogit.export")


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = epath.Path(workdir) / CONFIG_FILE
  if not path.exists():
    raise BiglogitError(f"{workdir} has no {CONFIG_FILE}; pass the --workdir of a biglogit.main run")
  try:
    tree = json.loads(path.read_text())
  except ValueError as e:
    raise BiglogitError(f"{path} is not valid JSON ({e}); restore it from the run's first start "
                        "(run_history.json records every setting)") from e
  if not isinstance(tree, dict):
    raise BiglogitError(f"{path} holds no config (a JSON {type(tree).__name__}); restore it from the run's first "
                        "start (run_history.json records every setting)")
  config = config_schema.upgrade(tree)  # a config.json of any era, read forward
  try:
    config_schema.check(config, relations=False)
  except BiglogitError as e:
    raise BiglogitError(f"{path}: {e}") from None
  return config


def restore_generator_on_this_host(path):
  """A release's generator onto this process's first device, whatever devices wrote it: without a
  target Orbax restores onto the writer's topology and refuses elsewhere (an H200's release on a
  CPU, a CPU's release in a GPU notebook)."""
  checkpointer = ocp.StandardCheckpointer()
  on_this_host = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree_util.tree_map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=on_this_host),
                                  checkpointer.metadata(path).item_metadata)
  return checkpointer.restore(path, target)


MAX_SEED = 2**32 - 1  # jax.random.key takes a uint32's range from Python ints


def _whole(value, what: str, low: int, high: int = MAX_SEED) -> int:
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
    raise BiglogitError(f"{what}={value!r}; use an integer from {low} to {high}")
  return int(value)


def _check_seed(seed):
  _whole(seed, "seed", 0)


def _checked_indices(indices, n):
  """Dataset indices (eps is drawn per index): n of them, whole numbers from 0; None means 0..n-1."""
  if indices is None:
    return np.arange(n)
  array = np.asarray(indices)
  if array.ndim != 1 or (n is not None and len(array) != n) or (len(array) and (
      array.dtype.kind not in "iu" or array.min() < 0 or array.max() > MAX_SEED)):
    want = f"{n} " if n is not None else ""
    raise BiglogitError(f"indices must be {want}whole numbers from 0 (one dataset index per image); got shape "
                        f"{list(array.shape)} of dtype {array.dtype}")
  return array


class Inverter:
  """x_hat = G(release(z), eps) with the EMA generator, as float [0, 1] numpy images."""

  def __init__(self, config, generator, params, g_stats, *, name: str, step: int, workdir: str = "",
               inference_settings: inference.Settings = inference.Settings()):
    self.config, self.generator = config, generator
    self.params, self.g_stats = params, g_stats
    self.name, self.step, self.workdir = name, step, workdir
    self.batch_size = int(config.eval.batch_size)
    self._jit = jax.jit(lambda p, s, z, e, conditioned: image_lib.to_unit(steps.reconstruct(
        p, s, z, e, generator=generator, config=config, conditioned=conditioned)), static_argnames="conditioned")
    self.inference = inference_settings  # what reconstruct does by default (a release records its own)
    self._phi, self._lever_functions = None, {}

  def set_inference(self, **overrides):
    """New default levers (None leaves a setting as it is; truncation_off=True clears truncation),
    checked against this inverter's method."""
    settings = inference.apply_overrides(self.inference, overrides)
    inference.check_for_method(settings, self.config.method)
    self.inference = settings
    return self

  def recompute_stats(self, logits, indices, batch_size: int, seed: int = 0):
    """Replace the running statistics by the EMA weights' own ("standing statistics", BigGAN):
    training-mode passes over `logits` (raw, with their dataset `indices` for eps) in batches of
    `batch_size`. BN keeps a momentum-0.9 average, so 40 batches leave 1.5% of the old value."""
    logits, indices = np.asarray(logits, np.float32), np.asarray(indices)
    if len(logits) < batch_size:
      raise BiglogitError(f"{len(logits)} logits for standing statistics; need at least one batch of {batch_size}")
    update = jax.jit(functools.partial(steps.standing_stats, generator=self.generator, config=self.config))
    stats = self.g_stats
    for start in range(0, len(logits) - batch_size + 1, batch_size):
      stats = update(self.params, stats, logits[start:start + batch_size],
                     self.sample_eps(indices[start:start + batch_size], seed))
    self.g_stats = jax.device_get(stats)
    return self

  @property
  def stochastic(self) -> bool:
    """The GAN samples x_hat given z; the DeePSiM decoder ignores eps."""
    return self.config.method == "gan"

  @property
  def dim_z(self) -> int:
    return int(self.config.model.dim_z)

  def sample_eps(self, indices, seed: int) -> np.ndarray:
    """eps for each example from (seed, its dataset index) alone, so an image's reconstruction does
    not depend on which batch or subset it is reconstructed in. An int n means indices 0..n-1."""
    _check_seed(seed)
    if np.ndim(indices) == 0:
      indices = np.arange(_whole(indices, "the number of examples", 0))
    return inference.sample_eps(_checked_indices(indices, None), seed, self.dim_z)

  def condition(self, logits) -> np.ndarray:
    """What G sees of raw logits: the release format and normalisation this inverter was trained
    with (data/conditioning.py)."""
    return np.asarray(conditioning.apply(self.config, self._checked_logits(logits)))

  def _checked_logits(self, logits, what: str = "logits") -> np.ndarray:
    """The API's door: [N, num_classes] finite numbers as float32, or one line saying what was expected."""
    width = int(self.config.model.num_classes)
    try:
      array = np.asarray(logits)
      numeric = array.dtype.kind in "biuf"
    except (ValueError, TypeError):  # ragged nesting
      array, numeric = None, False
    if not numeric:
      raise BiglogitError(f"{what} must be numbers of shape [N, {width}] (one vector per image); got "
                          f"{type(logits).__name__}" + (f" of dtype {array.dtype}" if array is not None else ""))
    if array.ndim != 2 or array.shape[1] != width:
      hint = (f"; for one vector use x[None] (shape [1, {width}])" if array.ndim == 1 and len(array) == width
              else "")
      raise BiglogitError(f"{what} has shape {list(array.shape)}; this inverter takes [N, {width}] (one vector "
                          f"of {width} per image){hint}")
    array = array.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if len(bad):
      raise BiglogitError(f"{what} rows {bad[:10].tolist()}{' ...' if len(bad) > 10 else ''} ({len(bad)} of "
                          f"{len(array)}) hold NaN or inf; drop or fix those rows")
    return array

  def _checked_eps(self, eps, n: int) -> np.ndarray:
    try:
      array = np.asarray(eps, np.float32)
    except (ValueError, TypeError):
      array = None
    if array is None or array.shape != (n, self.dim_z) or not np.isfinite(array).all():
      got = "non-numbers" if array is None else f"shape {list(array.shape)}" + (
          "" if array.shape != (n, self.dim_z) else " with NaN or inf")
      raise BiglogitError(f"eps must be finite numbers of shape [{n}, {self.dim_z}] (one noise vector of dim_z "
                          f"per image); got {got}; or pass eps=None to draw it from seed")
    return array

  def reconstruct(self, logits, eps=None, seed: int = 0, indices=None, conditioned: bool = False,
                  **levers) -> np.ndarray:
    """logits: the classifier's raw logits (the inverter applies its release and normalisation), or,
    with conditioned=True, vectors already in G's input space (e.g. from `condition`).
    indices: the examples' dataset indices (eps is drawn per index; default 0..N-1).
    levers: inference settings for this call (truncation=, best_of=, refine_steps=, ...: see
    biglogit/inference.py), over the inverter's defaults (`self.inference`)."""
    settings = self.inference.replace(**levers) if levers else self.inference
    logits = self._checked_logits(logits)
    if not len(logits):
      r = int(self.config.model.resolution)
      return np.zeros((0, r, r, 3), np.float32)
    if not settings.plain:
      return self.invert(logits, eps, seed, indices, conditioned, settings).images
    _check_seed(seed)
    indices = _checked_indices(indices, len(logits))
    eps = self.sample_eps(indices, seed) if eps is None else self._checked_eps(eps, len(logits))
    fn = functools.partial(self._jit, self.params, self.g_stats, conditioned=bool(conditioned))
    return image_lib.batched_apply(fn, logits, eps, batch_size=self.batch_size)

  def invert(self, logits, eps=None, seed: int = 0, indices=None, conditioned: bool = False,
             settings: Optional[inference.Settings] = None) -> inference.Result:
    """`reconstruct` with what the levers measured on the way (each draw's phi-distance, the
    refinement objective, the wall time): inference.Result."""
    settings = self.inference if settings is None else settings
    inference.check_for_method(settings, self.config.method)
    logits = self._checked_logits(logits)
    if not len(logits):
      raise BiglogitError("logits has no rows; pass at least one vector")
    _check_seed(seed)
    indices = _checked_indices(indices, len(logits))
    eps = None if eps is None else self._checked_eps(eps, len(logits))
    target = logits if conditioned else self.condition(logits)
    return inference.run(self, settings, target, eps, seed, indices)

  def phi(self, settings: Optional[inference.Settings] = None) -> inference.Phi:
    """The classifier the levers read (loaded once): settings.classifier, else data.classifier."""
    settings = self.inference if settings is None else settings
    wanted = (settings.classifier, settings.classifier_sha256)
    if self._phi is None or self._phi[0] != wanted:
      directory = inference.resolve_classifier(settings, self.config, self.workdir)
      self._phi = (wanted, inference.Phi(directory, self.config, settings.classifier_sha256))
    return self._phi[1]

  def lever_functions(self, settings: inference.Settings) -> inference.Functions:
    """The jitted programs of these levers (compiled once per inverter and refinement setting)."""
    phi = self.phi(settings) if settings.needs_phi else None
    key = (phi.directory if phi is not None else None, settings.refine_steps, settings.refine_lr, settings.refine_prior,
           settings.refine_offset, settings.offset_prior)
    if key not in self._lever_functions:
      generate = lambda g, cond, eps: image_lib.to_unit(steps.reconstruct(
          g[0], g[1], cond, eps, generator=self.generator, config=self.config, conditioned=True))
      self._lever_functions[key] = inference.build_functions(generate, phi, settings, self.dim_z)
    weights = ((self.params, self.g_stats), phi.variables if phi is not None else None)
    return self._lever_functions[key].bind(weights)

  @classmethod
  def load_export(cls, directory: str, name: str = ""):
    """A release written by python -m biglogit.export: config.json + the EMA generator."""
    path = epath.Path(directory) / "generator"
    path = path if files.is_remote(directory) else path.absolute()  # Orbax wants absolute local paths
    if not path.is_dir():
      raise BiglogitError(f"{directory} has no generator/ checkpoint; point at a biglogit.export release")
    verify_export(directory)  # before any of it is read
    config = load_config(directory)
    generator, _ = state_lib.build_models(config.model, config.method, config.deepsim.hidden)
    try:
      restored = restore_generator_on_this_host(path)
      restored["params"], restored["batch_stats"]
    except Exception as e:  # orbax/tensorstore raise many types for missing or damaged files
      raise BiglogitError(f"{path} is damaged or incomplete ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:120] if str(e) else ''}); export it again with "
                          "python -m biglogit.export") from e
    params = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), restored["params"])
    step, levers = -1, {}  # releases exported before release.json recorded their step
    info = epath.Path(directory) / "release.json"
    if info.exists():
      recorded = json.loads(info.read_text())
      step, levers = int(recorded["step"]), recorded.get("inference") or {}
    inverter = cls(config, generator, params, restored["batch_stats"],
                   name=name or os.path.basename(os.path.normpath(directory)), step=step, workdir=directory)
    return inverter.set_inference(**levers)  # the release's recorded inference settings are its defaults

  @classmethod
  def load(cls, workdir: str, step: Optional[int] = None, name: str = ""):
    """The EMA generator of a training workdir (latest or `step` checkpoint), or of an export
    written by python -m biglogit.export (a folder with generator/ and no checkpoints/)."""
    if (epath.Path(workdir) / "generator").is_dir() and not (epath.Path(workdir) / "checkpoints").is_dir():
      if step is not None:
        raise BiglogitError(f"{workdir} is an export (one generator, no checkpoints); drop --step")
      return cls.load_export(workdir, name)
    config = load_config(workdir)
    checkpointer = checkpointing.Checkpointer(workdir, config.keep_checkpoints,
                                              checkpointing.architecture_signature(config))
    checkpointer.check_compatible()
    step = checkpointer.latest_step() if step is None else step
    if step is None:
      raise BiglogitError(f"{workdir} has no checkpoint yet; train first or pass another --workdir")
    state = checkpointer.restore(step, state_lib.abstract_state(config, sharding.make_mesh()))
    checkpointer.close()
    return cls.from_state(config, state, name=name or os.path.basename(os.path.normpath(workdir)),
                          step=int(step), workdir=workdir)

  @classmethod
  def from_state(cls, config, state, *, name: str, step: int, workdir: str = ""):
    """The EMA generator of a training state (biglogit.state.GANState), e.g. during training."""
    generator, _ = state_lib.build_models(config.model, config.method, config.deepsim.hidden)
    params, g_stats = jax.device_get((state.ema_params, state.g_stats))
    return cls(config, generator, params, g_stats, name=name, step=step, workdir=workdir)
