"""What a classification API releases: a transform of the logit vector applied before the inverter
sees it (in training and in evaluation), to measure how much image detail each output format leaks.

Every transform keeps the shape [..., num_classes] so the same G/D architecture serves all of them:
  full      the logits themselves (the paper's setting)
  softmax   probabilities
  topk      the k largest logits; the rest replaced by 0 (a mask value that carries no rank order)
  top1      the predicted label only, one-hot
  rounded   probabilities rounded to `decimals` decimals (what many APIs print)
"""
import jax
import jax.numpy as jnp

from biglogit import BiglogitError
from biglogit import config_schema

KINDS = config_schema.GAN["release.kind"].choices


class Release:
  """A release setting as attributes (what apply, describe and key read: .kind, .k, .decimals)."""

  def __init__(self, kind: str, k: int = 5, decimals: int = 2):
    self.kind, self.k, self.decimals = kind, k, decimals


def key(release_cfg) -> str:
  """The format's short name: full, softmax, top1, topk:5, rounded:2 (statistics are stored under it)."""
  if release_cfg.kind == "topk":
    return f"topk:{int(release_cfg.k)}"
  if release_cfg.kind == "rounded":
    return f"rounded:{int(release_cfg.decimals)}"
  return release_cfg.kind


def from_key(name: str) -> Release:
  """The inverse of key(): "topk:5" -> Release("topk", k=5); refused in one line if malformed."""
  kind, _, arg = name.strip().partition(":")
  if kind not in KINDS or bool(arg) != (kind in ("topk", "rounded")) or (arg and not arg.isdigit()):
    raise BiglogitError(f"release format {name!r}; use one of full, softmax, top1, topk:K, rounded:D")
  if kind == "topk":
    return Release(kind, k=int(arg))
  if kind == "rounded":
    return Release(kind, decimals=int(arg))
  return Release(kind)


def describe(release_cfg) -> str:
  kind = release_cfg.kind
  if kind == "topk":
    return f"top-{release_cfg.k} logits"
  if kind == "rounded":
    return f"probabilities rounded to {release_cfg.decimals} decimals"
  return {"full": "full logits", "softmax": "softmax probabilities", "top1": "top-1 label (one-hot)"}[kind]


def apply(release_cfg, logits):
  """logits float [..., C] -> the released vector, same shape, float32."""
  logits = jnp.asarray(logits, jnp.float32)
  kind = release_cfg.kind
  if kind == "full":
    return logits
  if kind == "softmax":
    return jax.nn.softmax(logits, axis=-1)
  if kind == "topk":
    k = int(release_cfg.k)
    # Ties at the k-th value are broken by top_k's order, so exactly k entries are kept.
    _, idx = jax.lax.top_k(logits, k)
    keep = jnp.sum(jax.nn.one_hot(idx, logits.shape[-1], dtype=jnp.bool_), axis=-2) > 0
    return jnp.where(keep, logits, 0.0)
  if kind == "top1":
    return jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1], dtype=jnp.float32)
  if kind == "rounded":
    scale = 10.0 ** int(release_cfg.decimals)
    return jnp.round(jax.nn.softmax(logits, axis=-1) * scale) / scale
  raise BiglogitError(f"release.kind={kind!r}; use one of {', '.join(KINDS)}")
