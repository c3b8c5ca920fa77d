"""Reconstruction metrics on host numpy arrays. Images are float in [0, 1], NHWC.

Per-example metrics return one value per image so that `bootstrap_ci` can put a 95% interval on
their mean; set-level metrics (FID, KID) are bootstrapped by resampling both sets.
"""
from typing import Callable, Dict

import warnings

import numpy as np
import scipy.linalg
import scipy.ndimage

# PSNR of a perfect reconstruction is infinite; cap it so means and intervals stay finite.
MAX_PSNR_DB = 100.0


def psnr(x, y, data_range: float = 1.0) -> np.ndarray:
  """Per-image peak signal-to-noise ratio in dB."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  mse = np.mean((x - y) ** 2, axis=tuple(range(1, x.ndim)))
  with np.errstate(divide="ignore"):
    out = 10.0 * np.log10(data_range ** 2 / mse)
  return np.minimum(out, MAX_PSNR_DB)


def ssim(x, y, data_range: float = 1.0, sigma: float = 1.5) -> np.ndarray:
  """Per-image SSIM (Wang et al. 2004): 11-tap Gaussian window, population covariances, mean over
  channels. Equals skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, channel_axis=-1) image by image."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  blur = lambda a: scipy.ndimage.gaussian_filter(a, sigma=(0, sigma, sigma, 0), truncate=3.5,
                                                 mode="reflect")
  mx, my = blur(x), blur(y)
  vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
  s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
  pad = int(3.5 * sigma + 0.5)  # the window radius: borders the window does not cover are dropped
  return s[:, pad:-pad, pad:-pad, :].mean(axis=(1, 2, 3))


def cosine(a, b) -> np.ndarray:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  denom = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
  return np.sum(a * b, axis=-1) / np.maximum(denom, 1e-12)


def l2(a, b) -> np.ndarray:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.linalg.norm((a - b).reshape(len(a), -1), axis=-1)


def noise_std(samples) -> np.ndarray:
  """samples [K, N, H, W, C]: per example, the per-pixel std over the K reconstructions, averaged."""
  samples = np.asarray(samples, np.float64)
  return samples.std(axis=0).mean(axis=(1, 2, 3))


def bootstrap_ci(values, num_resamples: int, seed: int = 0) -> Dict[str, float]:
  """Mean with a percentile-bootstrap 95% interval. num_resamples has no default: every caller passes
  the config's eval.bootstrap, so the setting is honoured everywhere."""
  values = np.asarray(values, np.float64)
  if values.size == 0:
    raise ValueError("bootstrap_ci of an empty set")
  rng = np.random.default_rng(seed)
  means = values[rng.integers(0, len(values), (num_resamples, len(values)))].mean(axis=1)
  lo, hi = np.percentile(means, [2.5, 97.5])
  return {"mean": float(values.mean()), "ci_low": float(lo), "ci_high": float(hi), "n": int(len(values))}


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
  """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)), the Fréchet distance of two Gaussians."""
  with warnings.catch_warnings():  # a singular product is handled below, not reported to the user
    warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
    warnings.simplefilter("ignore", RuntimeWarning)
    covmean = scipy.linalg.sqrtm(np.asarray(cov1) @ np.asarray(cov2))
    if not np.isfinite(covmean).all():  # regularise as in the reference FID code
      offset = np.eye(len(cov1)) * 1e-6
      covmean = scipy.linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
  covmean = np.real(covmean)
  diff = np.asarray(mu1) - np.asarray(mu2)
  return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


def fid_unreliable(num_samples: int, feature_dim: int) -> str:
  """Why an FD on this many samples says little ('' when it is fine): with no more samples than
  feature dimensions the covariances are singular and FD is dominated by that."""
  if num_samples > feature_dim:
    return ""
  return (f"FD on {num_samples} samples of {feature_dim}-dimensional features (singular covariances): "
          f"unreliable; evaluate more than {feature_dim} examples")


def fid(feats1, feats2) -> float:
  f1, f2 = np.asarray(feats1, np.float64), np.asarray(feats2, np.float64)
  return frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))


def kid(feats1, feats2, subset_size: int = 1000, num_subsets: int = 10, seed: int = 0) -> float:
  """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2 with the cubic polynomial
  kernel k(a, b) = (a.b / d + 1)^3, averaged over random subsets."""
  f1, f2 = np.asarray(feats1, np.float64), np.asarray(feats2, np.float64)
  d = f1.shape[1]
  m = min(subset_size, len(f1), len(f2))
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(num_subsets):
    a = f1[rng.choice(len(f1), m, replace=False)]
    b = f2[rng.choice(len(f2), m, replace=False)]
    kaa, kbb, kab = [(u @ v.T / d + 1.0) ** 3 for u, v in ((a, a), (b, b), (a, b))]
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))
    values.append(off(kaa) + off(kbb) - 2.0 * kab.mean())
  return float(np.mean(values))


def bootstrap_set_metric(fn: Callable, feats1, feats2, num_resamples: int, seed: int = 0):
  """A set-level metric with a 95% interval from resampling both feature sets with replacement.

  Duplicates in a resample shrink the feature covariance, which inflates FID/KID systematically; the
  percentile interval is therefore shifted by the bootstrap's own bias estimate (mean of the
  resampled values minus the full-set value) so that it is centred on what it measures.
  """
  rng = np.random.default_rng(seed)
  value = fn(feats1, feats2)
  draws = np.array([fn(feats1[rng.integers(0, len(feats1), len(feats1))],
                       feats2[rng.integers(0, len(feats2), len(feats2))]) for _ in range(num_resamples)])
  if len(draws) == 0:
    return {"mean": float(value), "ci_low": float(value), "ci_high": float(value), "n": int(len(feats1))}
  bias = draws.mean() - value
  lo, hi = np.percentile(draws - bias, [2.5, 97.5])
  return {"mean": float(value), "ci_low": float(min(lo, value)), "ci_high": float(max(hi, value)),
          "n": int(len(feats1))}


# --- Sample-level leakage: does x_hat point back at its own original, or only at its class? ---

def _squared_distances(queries, gallery) -> np.ndarray:
  """[N, M] squared L2 distances between flattened rows, in float64."""
  q = np.asarray(queries, np.float64).reshape(len(queries), -1)
  g = np.asarray(gallery, np.float64).reshape(len(gallery), -1)
  d = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * q @ g.T
  return np.maximum(d, 0.0)


def retrieval_ranks(queries, gallery, groups=None) -> np.ndarray:
  """Rank of each query's own original (gallery[i] for queries[i]) by L2: the number of OTHER gallery
  items at a distance <= the own one (0 = the own original is strictly nearest). Ties count against
  the query, so an inverter that outputs one image for every input cannot score above chance.
  groups: optional labels; then only gallery items of the query's own group compete."""
  d = _squared_distances(queries, gallery)
  own = np.diag(d)[:, None]
  closer = d <= own
  np.fill_diagonal(closer, False)
  if groups is not None:
    groups = np.asarray(groups)
    closer &= groups[:, None] == groups[None, :]
  return closer.sum(axis=1)


def retrieval_chance(k: int, groups=None, n: int = None) -> float:
  """Top-k retrieval accuracy of an inverter whose output is independent of the instance: k/N
  among all N, and the mean of min(k, n_c)/n_c over queries within their group of size n_c."""
  if groups is None:
    return min(k, n) / n
  _, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
  sizes = counts[inverse].astype(np.float64)
  return float(np.mean(np.minimum(k, sizes) / sizes))


def instance_gain_db(x_hat, x, labels) -> np.ndarray:
  """PSNR(x_hat_i, x_i) minus the mean PSNR(x_hat_i, x_j) over the other originals j of the same
  label, in dB (NaN where a label has a single example). 0 for an inverter that knows only the class."""
  x_hat, x = np.asarray(x_hat, np.float64), np.asarray(x, np.float64)
  mse = _squared_distances(x_hat, x) / np.prod(x.shape[1:])
  with np.errstate(divide="ignore"):
    p = np.minimum(10.0 * np.log10(1.0 / mse), MAX_PSNR_DB)
  labels = np.asarray(labels)
  same = labels[:, None] == labels[None, :]
  np.fill_diagonal(same, False)
  others = np.where(same, p, 0.0).sum(1) / np.maximum(same.sum(1), 1)
  return np.where(same.any(1), np.diag(p) - others, np.nan)


def agreement_chance(classes) -> float:
  """Accuracy of a guess drawn independently of the input from the classes' own marginal
  distribution: sum_c p_c^2 (1/C for balanced classes)."""
  _, counts = np.unique(np.asarray(classes), return_counts=True)
  p = counts / counts.sum()
  return float((p * p).sum())
