"""Inference-time levers of a trained inverter: what `Inverter.reconstruct` may do with z beyond one
forward pass of G, without touching the weights (results/fidelity/ measures each).

  truncation     eps ~ N(0, 1) truncated to [-t, t] (BigGAN's truncation trick); t = 0 means eps = 0.
                 Samples nearer the mode of p(x | z), less diverse.
  best_of        K draws of eps; keep the reconstruction whose phi-vector -- phi's logits of x_hat,
                 released and normalised like G's input -- is nearest the given one (phi forward only).
  refine_steps   from the (best) feed-forward start, Adam on eps -- and with refine_offset also on a
                 per-image offset d of G's input vector c -- minimising
                     ||c(phi(G(c + d, eps))) - c||^2 + refine_prior * ||eps||^2 / dim_z
                                                    + offset_prior * ||d||^2
                 (the eps term is N(0, I)'s negative log-density, scaled: it keeps eps a likely draw).
The levers compose in that order: draws (truncated), the best of them, then refinement. Every default
is "off", and then `reconstruct` is the plain forward pass, bit for bit. A lever that reads phi needs
phi's classifier folder: `classifier`, else the inverter's data.classifier. Once phi's agreement is
what a lever optimises, phi is no longer a fair judge of it: judge by pixels and independent networks.
"""
import dataclasses
import functools
import math
import os
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from biglogit import BiglogitError
from biglogit import images as image_lib
from biglogit.classifiers import io as classifier_io
from biglogit.data import conditioning

MAX_BEST_OF = 4096
MAX_REFINE_STEPS = 100_000


@dataclasses.dataclass(frozen=True)
class Settings:
  truncation: Optional[float] = None  # None: plain N(0, 1)
  best_of: int = 1
  refine_steps: int = 0
  refine_lr: float = 0.2  # with refine_prior 1.0: the best of a 3x3 grid (launch/fidelity_tuning.py)
  refine_prior: float = 1.0
  refine_offset: bool = False
  offset_prior: float = 1.0
  classifier: str = ""  # phi's folder; relative paths: to the working directory, else to the release's
  classifier_sha256: str = ""  # recorded by a release, so a lever never reads a different phi

  @property
  def plain(self) -> bool:
    return self.truncation is None and self.best_of == 1 and self.refine_steps == 0

  @property
  def needs_phi(self) -> bool:
    return self.best_of > 1 or self.refine_steps > 0

  def replace(self, **overrides) -> "Settings":
    """A copy with `overrides` (None values ignored), checked; an unknown name is one line."""
    names = {f.name for f in dataclasses.fields(self)}
    unknown = sorted(set(overrides) - names)
    if unknown:
      raise BiglogitError(f"unknown inference setting(s) {', '.join(unknown)}; use {', '.join(sorted(names))}")
    return check(dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None}))

  def describe(self) -> str:
    if self.plain:
      return "one draw of eps ~ N(0, 1)"
    parts = ["eps = 0" if self.truncation == 0 else
             f"eps truncated to [-{self.truncation:g}, {self.truncation:g}]" if self.truncation is not None
             else "eps ~ N(0, 1)"]
    if self.best_of > 1:
      parts.append(f"best of {self.best_of} draws by phi-distance")
    if self.refine_steps:
      parts.append(f"{self.refine_steps} Adam steps (lr {self.refine_lr:g}) on eps"
                   + (" and an offset of G's input" if self.refine_offset else "")
                   + f", prior weight {self.refine_prior:g}")
    return "; ".join(parts)

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def from_dict(d) -> Settings:
  """Settings recorded by a release (release.json's "inference"); unknown keys are refused."""
  return Settings().replace(**dict(d or {}))


def check(s: Settings) -> Settings:
  """One line per bad value, naming it and what is allowed."""
  if s.truncation is not None and not (isinstance(s.truncation, (int, float)) and not isinstance(s.truncation, bool)
                                       and math.isfinite(s.truncation) and 0 <= s.truncation <= 100):
    raise BiglogitError(f"truncation={s.truncation!r}; use a threshold from 0 (eps = 0) to 100, or none")
  for name, top in (("best_of", MAX_BEST_OF), ("refine_steps", MAX_REFINE_STEPS)):
    value, low = getattr(s, name), 1 if name == "best_of" else 0
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= top:
      raise BiglogitError(f"{name}={value!r}; use a whole number from {low} to {top}")
  for name in ("refine_lr", "refine_prior", "offset_prior"):
    value = getattr(s, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
        or (name == "refine_lr" and value == 0):
      bound = "above" if name == "refine_lr" else "of at least"
      raise BiglogitError(f"{name}={value!r}; use a finite number {bound} 0")
  if not isinstance(s.refine_offset, bool):
    raise BiglogitError(f"refine_offset={s.refine_offset!r}; use true or false")
  return s


def check_for_method(s: Settings, method: str):
  """The DeePSiM decoder ignores eps: only refinement of G's input offset means anything there."""
  if method == "gan":
    return
  if s.truncation is not None or s.best_of > 1:
    raise BiglogitError(f"truncation and best_of draw eps, which a {method} inverter ignores; drop them "
                        "(refine_steps with refine_offset=true works on its input instead)")
  if s.refine_steps and not s.refine_offset:
    raise BiglogitError(f"a {method} inverter ignores eps: refine_steps needs refine_offset=true")


def truncated_eps(key, indices, dim_z: int, truncation: Optional[float]):
  """eps per dataset index from `key` alone; truncation None: N(0, 1), t: N(0, 1) on [-t, t]."""
  def one(i):
    k = jax.random.fold_in(key, i)
    if truncation is None:
      return jax.random.normal(k, (dim_z,), jnp.float32)
    if truncation == 0:
      return jnp.zeros((dim_z,), jnp.float32)
    return jax.random.truncated_normal(k, -truncation, truncation, (dim_z,), jnp.float32)
  return jax.vmap(one)(indices)


_eps = jax.jit(truncated_eps, static_argnums=(2, 3))


def draw_key(seed: int, draw: int):
  """Draw 0 is the plain draw of `seed` (so best_of=1 gives the default images); draw k > 0 its own."""
  key = jax.random.key(seed)
  return key if draw == 0 else jax.random.fold_in(key, draw)


def sample_eps(indices, seed: int, dim_z: int, draw: int = 0, truncation: Optional[float] = None) -> np.ndarray:
  return np.asarray(_eps(draw_key(seed, draw), jnp.asarray(indices, jnp.uint32), dim_z, truncation))


def resolve_classifier(s: Settings, config, base_dir: str) -> str:
  """phi's folder for the levers that read it: the setting, else the config's data.classifier; a
  relative path is taken from the working directory, else from the release or workdir folder."""
  path = s.classifier or config.data.get("classifier", "") or config.eval.get("classifier", "")
  if not path:
    raise BiglogitError("best_of and refine_steps need the classifier phi; pass its folder as classifier=DIR "
                        "(--inference_classifier=DIR)")
  for candidate in (path, os.path.join(base_dir, path)):
    if os.path.isfile(os.path.join(candidate, classifier_io.METADATA)):
      return candidate
  raise BiglogitError(f"phi's classifier folder {path!r} was not found (from the working directory or from "
                      f"{base_dir!r}); pass classifier=DIR (--inference_classifier=DIR)")


class Phi:
  """phi(x) released and normalised as G's input: the space in which the levers compare vectors."""

  def __init__(self, directory: str, config, expected_sha256: str = ""):
    self.directory = directory
    self.module, self.variables, self.meta = classifier_io.load_classifier(directory)
    found = self.meta.get("variables_sha256", "")
    if expected_sha256 and found != expected_sha256:
      raise BiglogitError(f"{directory} is not the classifier this inverter's inference settings were recorded "
                          f"with (variables_sha256 {found[:12]}, expected {expected_sha256[:12]}); pass the "
                          "right classifier=DIR")
    self.resolution = int(self.meta["input_resolution"])
    self.config = config

  def vector(self, variables, x01):
    logits = self.module.apply(variables, image_lib.resize_to(x01, self.resolution), train=False)
    return conditioning.apply(self.config, logits)


@dataclasses.dataclass
class Result:
  images: np.ndarray            # [N, H, W, 3] in [0, 1]
  eps: np.ndarray               # [N, dim_z], the eps of `images`
  offset: np.ndarray            # [N, C], the refined offset of G's input (zeros without refine_offset)
  draw_distances: np.ndarray    # [K, N] phi-distance of each draw (empty when no lever reads phi)
  distance: np.ndarray          # [N] phi-distance of the returned images (NaN when none was measured)
  objective: np.ndarray         # [steps + 1, N] refinement objective, before each step and after the last
  seconds: float                # wall time of the whole call


def run(inverter, s: Settings, target, eps, seed: int, indices) -> Result:
  """target: G's input vectors [N, C] (already released and normalised). eps: None, or [N, dim_z] given
  by the caller (then it is the only draw's)."""
  start = time.perf_counter()
  n, bs = len(target), inverter.batch_size
  fns = inverter.lever_functions(s)
  if eps is not None:
    draws = [np.asarray(eps, np.float32)]
    if s.best_of > 1 or s.truncation is not None:
      raise BiglogitError("eps was given: best_of and truncation draw eps themselves; give one or the other")
  else:
    draws = (sample_eps(indices, seed, inverter.dim_z, k, s.truncation) for k in range(s.best_of))
  best_x = best_eps = best_d = None
  draw_distances = []
  for k, eps_k in enumerate(draws):
    if fns.score is None:  # no lever reads phi: the one (truncated) draw
      best_x = image_lib.batched_apply(fns.generate, target, eps_k, batch_size=bs)
      best_eps, best_d = eps_k, np.full(n, np.nan)
      continue
    x_k, d_k = image_lib.batched_apply(fns.score, target, eps_k, batch_size=bs)
    draw_distances.append(d_k)
    if best_x is None:
      best_x, best_eps, best_d = x_k, eps_k, d_k
    else:  # strictly nearer only: ties keep the earlier draw, so K draws never do worse than fewer
      better = d_k < best_d
      best_x = np.where(better[:, None, None, None], x_k, best_x)
      best_eps = np.where(better[:, None], eps_k, best_eps)
      best_d = np.where(better, d_k, best_d)
  offset = np.zeros_like(target)
  objective = np.zeros((0, n), np.float32)
  if s.refine_steps:
    best_x, best_eps, offset, objective = image_lib.batched_apply(fns.refine, target, best_eps, batch_size=bs)
    objective = objective.T  # batched over examples; steps second
    best_d = image_lib.batched_apply(fns.score_with_offset, target, best_eps, offset, batch_size=bs)[1]
  return Result(best_x, best_eps, offset, np.asarray(draw_distances).reshape(len(draw_distances), n),
                best_d, objective, time.perf_counter() - start)


@dataclasses.dataclass
class Functions:
  """jitted programs over one batch; each takes (weights, ...) with weights = (G's variables, phi's)
  passed as arguments, not closed over (constants would be folded into every compilation)."""
  generate: object
  score: object = None
  score_with_offset: object = None
  refine: object = None

  def bind(self, weights):
    return Functions(*(None if f is None else functools.partial(f, weights)
                       for f in (self.generate, self.score, self.score_with_offset, self.refine)))


def build_functions(generate_fn, phi: Optional[Phi], s: Settings, dim_z: int) -> Functions:
  """generate_fn(g, cond, eps) -> x in [0, 1], g: G's variables."""
  generate = jax.jit(lambda w, cond, eps: generate_fn(w[0], cond, eps))
  if phi is None:
    return Functions(generate)

  def distance(w, x, target):
    return jnp.sum(jnp.square(phi.vector(w[1], x) - target), axis=-1)

  def score_with_offset(w, target, eps, offset):
    x = generate_fn(w[0], target + offset, eps)
    return x, distance(w, x, target)

  def refine(w, target, eps0):
    tx = optax.adam(s.refine_lr)

    def objective(params, target_):
      eps, offset = params
      x = generate_fn(w[0], target_ + offset, eps)
      per = distance(w, x, target_) + s.refine_prior * jnp.sum(jnp.square(eps), -1) / dim_z
      if s.refine_offset:
        per = per + s.offset_prior * jnp.sum(jnp.square(offset), -1)
      return jnp.sum(per), per

    def body(carry, _):
      params, opt = carry
      (_, per), grads = jax.value_and_grad(objective, has_aux=True)(params, target)
      if not s.refine_offset:  # Adam moves nothing whose gradient stays 0
        grads = (grads[0], jnp.zeros_like(grads[1]))
      updates, opt = tx.update(grads, opt, params)
      return (optax.apply_updates(params, updates), opt), per

    params = (eps0, jnp.zeros_like(target))
    (params, _), history = jax.lax.scan(body, (params, tx.init(params)), None, length=s.refine_steps)
    _, last = objective(params, target)
    eps, offset = params
    x = generate_fn(w[0], target + offset, eps)
    return x, eps, offset, jnp.concatenate([history, last[None]]).T  # [batch, steps + 1]

  return Functions(generate, jax.jit(lambda w, t, e: score_with_offset(w, t, e, jnp.zeros_like(t))),
                   jax.jit(score_with_offset), jax.jit(refine))


def define_flags(flag_values=None):
  """The levers as command-line flags (evaluate, export, the experiments); unset flags keep the
  inverter's defaults (a release's recorded ones, else off). Call under `if __name__ == "__main__"`."""
  from absl import flags
  flag_values = flags.FLAGS if flag_values is None else flag_values
  kw = {"flag_values": flag_values}
  flags.DEFINE_string("truncation", None, "Truncate eps to [-t, t] (0: eps = 0; 'none': plain N(0, 1)).", **kw)
  flags.DEFINE_integer("best_of", None, "Draws of eps; keep the one whose phi-vector is nearest z's.",
                       lower_bound=1, upper_bound=MAX_BEST_OF, **kw)
  flags.DEFINE_integer("refine_steps", None, "Adam steps on eps (and the offset) toward phi-consistency.",
                       lower_bound=0, upper_bound=MAX_REFINE_STEPS, **kw)
  flags.DEFINE_float("refine_lr", None, "Adam's learning rate for refinement.", lower_bound=1e-9,
                     upper_bound=100.0, **kw)
  flags.DEFINE_float("refine_prior", None, "Weight of the N(0, 1) prior on eps during refinement.",
                     lower_bound=0.0, upper_bound=1e6, **kw)
  flags.DEFINE_bool("refine_offset", None, "Also refine a per-image offset of G's input vector.", **kw)
  flags.DEFINE_float("offset_prior", None, "Weight of the L2 penalty on that offset.", lower_bound=0.0,
                     upper_bound=1e6, **kw)
  flags.DEFINE_string("inference_classifier", None, "phi's classifier folder for best_of / refine_steps "
                      "(default: the release's recorded one, else the run's data.classifier).", **kw)


FLAG_NAMES = ("truncation", "best_of", "refine_steps", "refine_lr", "refine_prior", "refine_offset",
              "offset_prior", "inference_classifier")


def overrides_from_flags(flag_values) -> dict:
  """{setting: value} for the lever flags that were given (names as Settings has them)."""
  out = {}
  for name in FLAG_NAMES:
    value = getattr(flag_values, name)
    if value is None:
      continue
    if name == "truncation":
      value = parse_truncation(value)
      out["truncation"] = value
      if value is None:  # 'none' clears a recorded truncation: replace() skips None, so say so explicitly
        out["truncation_off"] = True
      continue
    out["classifier" if name == "inference_classifier" else name] = value
  return out


def parse_truncation(text: str) -> Optional[float]:
  if text.strip().lower() == "none":
    return None
  try:
    return float(text)
  except ValueError:
    raise BiglogitError(f"--truncation={text!r}; use a number from 0 to 100, or none") from None


def apply_overrides(settings: Settings, overrides: dict) -> Settings:
  """Settings with command-line overrides (overrides_from_flags) applied."""
  overrides = dict(overrides or {})
  if overrides.pop("truncation_off", False):
    settings = dataclasses.replace(settings, truncation=None)
    overrides.pop("truncation", None)
  return settings.replace(**overrides)
