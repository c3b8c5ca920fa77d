"""Frozen networks used to judge reconstructions: classifiers (logits, penultimate features) and the
FID/KID feature extractor, each jitted once and applied in fixed-size batches."""
import functools
import os

import jax
import numpy as np

from biglogit import BiglogitError
from biglogit import config_schema
from biglogit.images import batched_apply, resize_to
from biglogit.classifiers import io as classifier_io


class Classifier:
  """A converted or trained classifier directory, applied to float [0, 1] NHWC images of any size
  (resized to its input resolution)."""

  def __init__(self, directory: str, batch_size: int = 250):
    self.directory = directory
    self.module, self.variables, self.meta = classifier_io.load_classifier(directory)
    self.resolution = int(self.meta["input_resolution"])
    self.batch_size = batch_size
    self.name = f"{self.meta['architecture']} ({os.path.basename(os.path.normpath(directory))})"
    self._logits = jax.jit(self.logits_fn)
    self._features = jax.jit(functools.partial(self._apply, features=True))

  def _apply(self, x, features=False):
    return self.module.apply(self.variables, resize_to(x, self.resolution), train=False, features=features)

  def logits_fn(self, x):
    """Differentiable jnp function (for PGD and optimisation-based inversion)."""
    return self._apply(x)

  def logits(self, images) -> np.ndarray:
    return batched_apply(self._logits, np.asarray(images, np.float32), batch_size=self.batch_size)

  def features(self, images) -> np.ndarray:
    return batched_apply(self._features, np.asarray(images, np.float32), batch_size=self.batch_size)

  @property
  def fingerprint(self) -> str:
    return self.meta.get("variables_sha256") or self.meta.get("source_sha256") or self.directory


class FeatureExtractor:
  """FID/KID features from a spec string:
    inception:DIR   pool features of a converted Inception-V3 (the standard FID extractor)
    classifier:DIR  STAND-IN: penultimate features of any classifier, for offline use; its FID/KID
                    compare runs with each other but not with published FIDs, and every report says so.
  """

  def __init__(self, spec: str, batch_size: int = 250):
    kind, directory = config_schema.parse_fid_extractor(spec)
    self.net = Classifier(directory, batch_size)
    arch = self.net.meta["architecture"]
    if kind == "inception" and arch != "inception_v3":
      raise BiglogitError(f"eval.fid_extractor={spec!r} is a {arch}, not inception_v3; use "
                          f"'classifier:{directory}' to use it as a stand-in extractor")
    self.is_standin = kind == "classifier"
    self.name = (f"STAND-IN extractor: {self.net.name} penultimate features, not Inception-V3 "
                 "(FID/KID comparable between runs here, not with published values)"
                 if self.is_standin else f"Inception-V3 pool features ({self.net.name})")

  def __call__(self, images) -> np.ndarray:
    return self.net.features(images)


