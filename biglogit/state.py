"""The one training-state pytree and its initialisation (abstract via eval_shape, then sharded)."""
import functools
import json
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from biglogit import config_schema
from biglogit import sharding
from biglogit.models.decoder import Decoder
from biglogit.models.discriminator import Discriminator
from biglogit.models.generator import Generator

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@flax.struct.dataclass
class GANState:
  step: jax.Array
  g_params: Any
  g_stats: Any  # G's batch-norm running stats and spectral-norm vectors
  d_params: Any
  d_stats: Any  # D's spectral-norm vectors
  g_opt: Any
  d_opt: Any
  ema_params: Any  # EMA of g_params, updated on device inside the step
  rng: jax.Array  # raw uint32 key data: plain arrays checkpoint and compare everywhere


METHODS = config_schema.GAN["method"].choices


def build_models(model_cfg, method: str = "gan", decoder_hidden: int = 1024):
  """(G, D). method="deepsim" swaps G for the Dosovitskiy & Brox decoder; D is the same."""
  dtype = COMPUTE_DTYPES[model_cfg.compute_dtype]
  if method == "gan":
    g = Generator(resolution=model_cfg.resolution, ch=model_cfg.ch_g, dim_z=model_cfg.dim_z,
                  cond_hidden=model_cfg.cond_hidden, attention_resolution=model_cfg.g_attention,
                  dtype=dtype)
  else:  # "deepsim" (the method's spelling is config_schema's to check)
    g = Decoder(resolution=model_cfg.resolution, ch=model_cfg.ch_g, hidden=decoder_hidden, dtype=dtype)
  d = Discriminator(resolution=model_cfg.resolution, ch=model_cfg.ch_d,
                    attention_resolution=model_cfg.d_attention, dtype=dtype)
  return g, d


def build_optimizers(train_cfg):
  adam = lambda lr: optax.adam(lr, b1=train_cfg.b1, b2=train_cfg.b2, eps=train_cfg.adam_eps)
  return adam(train_cfg.g_lr), adam(train_cfg.d_lr)


def init_state(rng, config, generator: nn.Module, discriminator: nn.Module, g_tx, d_tx) -> GANState:
  m = config.model
  logits = jnp.zeros((2, m.num_classes), jnp.float32)
  eps = jnp.zeros((2, m.dim_z), jnp.float32)
  images = jnp.zeros((2, m.resolution, m.resolution, 3), jnp.float32)
  rng, g_rng, d_rng = jax.random.split(rng, 3)
  g_vars = generator.init({"params": g_rng}, logits, eps, train=True)
  d_vars = discriminator.init({"params": d_rng}, images, logits, train=True)
  return GANState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_vars["params"], g_stats=g_vars.get("batch_stats", {}),
      d_params=d_vars["params"], d_stats=d_vars["batch_stats"],
      g_opt=g_tx.init(g_vars["params"]), d_opt=d_tx.init(d_vars["params"]),
      ema_params=g_vars["params"], rng=jax.random.key_data(rng))


# train.* keys that are not the step's: the loop's length, and what is read once before the first step
NOT_THE_STEPS = tuple(k.split(".", 1)[1] for role in ("loop", "start") for k in config_schema.keys_with_role(role)
                      if k.startswith("train."))


def program_key(config, mesh, *extra) -> str:
  """Everything the model's traced programs depend on, as a cache key: the model, method, release,
  conditioning (its statistics are constants of the program) and optimiser settings and the devices
  (not train.num_steps or train.budget_hours, which are the loop's, not the step's)."""
  conditioning = config.get("conditioning")
  return json.dumps([config.model.to_dict(), config.method, config.deepsim.to_dict(), config.release.to_dict(),
                     conditioning.to_dict() if conditioning is not None else None,
                     {k: v for k, v in config.train.to_dict().items() if k not in NOT_THE_STEPS},
                     [d.id for d in mesh.devices.flat], list(mesh.devices.shape), mesh.axis_names, *extra],
                    sort_keys=True, default=str)


def abstract_state(config, mesh):
  """The state's shapes, dtypes and shardings on `mesh`: the restore target of a checkpoint, traced
  (jax.eval_shape), never initialised. Training and the inverter loader both restore onto it."""
  key = program_key(config, mesh)
  if key not in _ABSTRACT_STATES:  # tracing the init takes seconds; loaders and trainers ask often
    _ABSTRACT_STATES[key] = _trace_abstract_state(config, mesh)
  return _ABSTRACT_STATES[key]


_ABSTRACT_STATES = {}


def _trace_abstract_state(config, mesh):
  generator, discriminator = build_models(config.model, config.method, config.deepsim.hidden)
  g_tx, d_tx = build_optimizers(config.train)
  return sharding.sharded_abstract(functools.partial(init_state, config=config, generator=generator,
                                                     discriminator=discriminator, g_tx=g_tx, d_tx=d_tx), mesh)


def count_params(tree) -> int:
  return sum(int(x.size) for x in jax.tree_util.tree_leaves(tree))
