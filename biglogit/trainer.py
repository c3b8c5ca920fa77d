"""The jitted functions of one training (config, mesh): init, the train step, reconstruct; built once
per process for each (config, mesh, frozen classifiers) and kept, so that a notebook cell run again
reuses the traced and compiled step."""
import collections
import dataclasses
import functools
import os
from typing import Any, Callable

import jax

from biglogit import sharding
from biglogit import state as state_lib
from biglogit import steps
from biglogit import training_loop
from biglogit.classifiers import io as classifier_io


@dataclasses.dataclass
class Trainer:
  """Everything jit needs, built once per (config, mesh)."""
  generator: Any
  discriminator: Any
  g_tx: Any
  d_tx: Any
  mesh: Any
  state_sharding: Any
  abstract_state: Any  # ShapeDtypeStructs with shardings
  init: Callable
  step: Callable  # jitted (state, batch, aux) -> (state, metrics)
  reconstruct: Callable  # jitted steps.reconstruct (params, g_stats, logits, eps) -> images
  aux: Any  # frozen arrays the step needs (the DeePSiM comparator's variables), replicated

  compiled: dict = dataclasses.field(default_factory=dict)  # the AOT-compiled step, by input types

  def run_step(self, state, batch):
    return self.step(state, batch, self.aux)

  def compiled_step(self, state, batch):
    """The step compiled ahead of the loop for these inputs' shapes, dtypes and shardings (once per
    trainer: a resumed or repeated run in this process reuses it), as (state, batch) -> (state, metrics)."""
    leaves, treedef = jax.tree_util.tree_flatten((state, batch))
    key = (treedef, tuple((x.shape, str(x.dtype), x.sharding) for x in leaves))
    if key not in self.compiled:
      self.compiled[key] = self.step.lower(state, batch, self.aux).compile()
    compiled = self.compiled[key]
    return lambda state, batch: compiled(state, batch, self.aux)


# Trainers built in this process, by everything their jitted functions depend on: a second training
# of the same model in one process (a notebook cell run again) reuses the traced and compiled step
# instead of tracing and compiling it again.
_TRAINERS = collections.OrderedDict()
_MAX_TRAINERS = 4


def build_trainer(config, mesh, comparator: str = "", phi: str = "") -> Trainer:
  """comparator: classifier dir of the reconstruction terms (preflight.comparator_dir); unused
  without them. phi: classifier dir for train.consistency_weight > 0 (preflight.phi_dir); unused otherwise."""
  mtime = lambda d: (os.path.getmtime(os.path.join(d, classifier_io.VARIABLES))
                     if d and os.path.exists(os.path.join(d, classifier_io.VARIABLES)) else "")
  key = state_lib.program_key(config, mesh, comparator, mtime(comparator), phi, mtime(phi))
  if key in _TRAINERS:
    _TRAINERS.move_to_end(key)
    return _TRAINERS[key]
  trainer = _build_trainer(config, mesh, comparator, phi)
  _TRAINERS[key] = trainer
  while len(_TRAINERS) > _MAX_TRAINERS:
    _TRAINERS.popitem(last=False)
  return trainer


def _build_trainer(config, mesh, comparator: str, phi: str = "") -> Trainer:
  generator, discriminator = state_lib.build_models(config.model, config.method, config.deepsim.hidden)
  g_tx, d_tx = state_lib.build_optimizers(config.train)
  init_fn = functools.partial(state_lib.init_state, config=config, generator=generator,
                              discriminator=discriminator, g_tx=g_tx, d_tx=d_tx)
  abstract = state_lib.abstract_state(config, mesh)  # with the shardings the state lives in
  state_sharding = training_loop.shardings_of(abstract)
  features_fn, phi_fn, aux = None, None, {}
  if (config.method == "deepsim" or steps.uses_hybrid_loss(config)) and comparator:
    features_fn, aux["comparator"] = classifier_io.features_function(comparator, config.deepsim.comparator_layer)
  if config.train.consistency_weight > 0 and phi:
    phi_fn, aux["phi"] = classifier_io.logits_function(phi)
  step_fn = functools.partial(steps.train_step, generator=generator, discriminator=discriminator,
                              g_tx=g_tx, d_tx=d_tx, config=config, comparator=features_fn, phi=phi_fn)
  aux = jax.device_put(aux, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
  jit_step = training_loop.jit_step(step_fn, abstract, sharding.batch_sharding(mesh, batch_axis=1),  # [d_steps, B, ...]
                                    mesh, num_aux=1)
  jit_init = training_loop.jit_init(init_fn, abstract)
  jit_reconstruct = jax.jit(functools.partial(steps.reconstruct, generator=generator, config=config))
  return Trainer(generator, discriminator, g_tx, d_tx, mesh, state_sharding, abstract,
                 jit_init, jit_step, jit_reconstruct, aux)
