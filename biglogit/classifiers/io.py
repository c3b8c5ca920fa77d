"""A converted or trained classifier on disk: DIR/variables.msgpack + DIR/classifier.json.

classifier.json holds what is needed to rebuild and use the model: architecture, num_classes,
input resolution and resize policy, normalisation mean/std, and the source checkpoint's sha256.
"""
import hashlib
import json
import os
from typing import Any, Dict, Tuple

import flax.serialization
import jax
import jax.numpy as jnp

from biglogit import BiglogitError
from biglogit import classifiers
from biglogit import files
from biglogit import images as image_lib

VARIABLES = "variables.msgpack"
METADATA = "classifier.json"


def sha256_of(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def module_from_metadata(meta: Dict[str, Any]):
  kw = {"num_classes": meta["num_classes"]}
  if "mean" in meta:
    kw.update(mean=tuple(meta["mean"]), std=tuple(meta["std"]))
  kw.update(meta.get("module_kwargs", {}))
  return classifiers.build(meta["architecture"], **kw)


# The metadata that changes what the classifier computes; behaviour_sha256 holds a digest of each, so an
# edited normalisation or input size is caught like damaged weights and named (classifiers saved before
# it hold one digest of them all, or none).
BEHAVIOUR_KEYS = ("architecture", "num_classes", "input_resolution", "resize", "mean", "std", "module_kwargs")


def behaviour_digest(meta: Dict[str, Any]) -> Dict[str, str]:
  return {k: hashlib.sha256(json.dumps(meta.get(k), sort_keys=True).encode()).hexdigest() for k in BEHAVIOUR_KEYS}


def _legacy_behaviour_digest(meta: Dict[str, Any]) -> str:
  return hashlib.sha256(json.dumps({k: meta.get(k) for k in BEHAVIOUR_KEYS}, sort_keys=True).encode()).hexdigest()


def check_behaviour(meta: Dict[str, Any], meta_path: str):
  """An edit of classifier.json's behaviour fields since the weights were written: one line naming it."""
  saved = meta.get("behaviour_sha256")
  if isinstance(saved, str):
    edited = [] if _legacy_behaviour_digest(meta) == saved else ["architecture, input size or normalisation"]
  else:
    found = behaviour_digest(meta)
    edited = [k for k in BEHAVIOUR_KEYS if saved and saved.get(k) != found[k]]
  if edited:
    raise BiglogitError(f"{meta_path} was edited: {edited[0]} no longer matches behaviour_sha256 (written with the "
                        "weights); convert or train the classifier again rather than editing it")


def save_classifier(out_dir: str, variables, meta: Dict[str, Any]) -> Dict[str, Any]:
  """Write atomically (temporary name, then rename); returns the metadata as written, which adds
  variables_sha256 and behaviour_sha256."""
  data = flax.serialization.msgpack_serialize(jax.device_get(variables))
  meta = {**meta, "variables_sha256": hashlib.sha256(data).hexdigest()}
  meta["behaviour_sha256"] = behaviour_digest(meta)
  files.atomic_write(os.path.join(out_dir, VARIABLES), data)
  files.atomic_write(os.path.join(out_dir, METADATA), json.dumps(meta, indent=2))
  return meta


def verify(directory: str) -> Tuple[Dict[str, Any], bytes]:
  """(metadata, the variables file's bytes) of a classifier folder whose files are as written, or one
  line naming what is missing, damaged or edited; nothing is deserialised (cheap enough to check every
  judge of a run before it trains)."""
  meta_path = os.path.join(directory, METADATA)
  if not os.path.exists(meta_path):
    raise BiglogitError(f"{directory} is not a classifier directory (no {METADATA}); convert one with "
                        "python -m biglogit.convert or train one with biglogit.classifiers.fit")
  try:
    with open(meta_path) as f:
      meta = json.load(f)
  except ValueError as e:
    raise BiglogitError(f"{meta_path} is not valid JSON ({e}); convert the classifier again") from e
  check_behaviour(meta, meta_path)
  variables_path = os.path.join(directory, VARIABLES)
  if not os.path.exists(variables_path):
    raise BiglogitError(f"{directory} has {METADATA} but no {VARIABLES}; convert or train the "
                        "classifier again into this folder")
  with open(variables_path, "rb") as f:
    data = f.read()
  # The digest catches damage that still parses (flipped bytes inside a weight array).
  expected = meta.get("variables_sha256")
  if expected and hashlib.sha256(data).hexdigest() != expected:
    raise BiglogitError(f"{variables_path} does not match the variables_sha256 in {METADATA} (damaged or "
                        "replaced); convert or train the classifier again")
  return meta, data


def load_classifier(directory: str) -> Tuple[Any, Any, Dict[str, Any]]:
  """(flax module, variables, metadata)."""
  meta, data = verify(directory)
  variables_path = os.path.join(directory, VARIABLES)
  try:
    variables = flax.serialization.msgpack_restore(data)
  except Exception as e:  # msgpack raises its own exception types for garbled or truncated data
    raise BiglogitError(f"{variables_path} is not a readable msgpack file ({type(e).__name__}); convert or "
                        "train the classifier again") from e
  if not isinstance(variables, dict):
    raise BiglogitError(f"{variables_path} holds a {type(variables).__name__}, not a variables dict; "
                        "convert or train the classifier again")
  variables = jax.tree_util.tree_map(jnp.asarray, variables)
  return module_from_metadata(meta), variables, meta


def logits_function(directory: str):
  """(fn(variables, images in [0, 1]) -> raw logits, variables) of a frozen classifier (the
  consistency loss's phi): images are resized to its input resolution first."""
  module, variables, meta = load_classifier(directory)
  resolution = int(meta["input_resolution"])

  def logits(variables, x):
    return module.apply(variables, image_lib.resize_to(x, resolution), train=False)

  return logits, variables


def features_function(directory: str, layer: str = ""):
  """(fn(variables, images in [0, 1]) -> features, variables) of a frozen classifier (DeePSiM's
  comparator): its penultimate features, or the output of the module at Flax path `layer` (e.g. 'layer2')."""
  module, variables, meta = load_classifier(directory)
  resolution = int(meta["input_resolution"])

  def features(variables, x):
    x = image_lib.resize_to(x, resolution)
    if not layer:
      return module.apply(variables, x, train=False, features=True)
    _, captured = module.apply(variables, x, train=False, mutable=["intermediates"],
                               capture_intermediates=lambda mdl, _: "/".join(mdl.path) == layer)
    found = jax.tree_util.tree_leaves(captured.get("intermediates", {}))
    if not found:
      raise BiglogitError(f"deepsim.comparator_layer={layer!r} names no module of {meta['architecture']}; "
                          "use a Flax module path such as 'layer2', or '' for the penultimate features")
    return found[0]

  return features, variables
