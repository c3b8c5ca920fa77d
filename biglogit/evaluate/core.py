"""Scoring reconstructions: every metric of the evaluation, with bootstrap 95% intervals.

  psnr, ssim                          x_hat vs x
  phi_top1_agreement                  argmax phi(x_hat) == argmax z        (logit consistency)
  logit_cosine, logit_l2              phi(x_hat) vs z
  identifiability_accuracy            argmax psi(x_hat) == label, psi an independent classifier
  identifier_agrees_with_phi          argmax psi(x_hat) == argmax z: psi sees phi's class in x_hat
  robust_feature_l2 (+ _relative)     penultimate features of a robust classifier, x_hat vs x
  retrieval_top{1,5}_{pixel,feature}[_in_class]
                                      is x_hat's own original among its k nearest of the N evaluated
                                      originals (or of those of its true class), by L2 in pixels / in
                                      the robust classifier's features: does z leak the instance?
  instance_gain_db                    PSNR to its own original minus mean PSNR to the other originals of
                                      its class: 0 for an inverter that knows only the class
  fid, kid                            configurable extractor (inception:DIR, or a named stand-in)
  noise_std                           per-pixel std of x_hat over K resampled eps, averaged

Every accuracy-like metric carries its chance level (`chance` in its summary): what an inverter whose
output ignores the instance scores (see `chance_levels`).
"""
import hashlib
import io
import json
import os
import re
import time
from typing import Callable, Dict, Tuple

import numpy as np
from etils import epath

from biglogit import BiglogitError
from biglogit import files
from biglogit.data import dataset as dataset_lib
from biglogit.data import pipeline
from biglogit.data import release
from biglogit.evaluate import metrics as M
from biglogit.evaluate import nets


def held_out(config, split: str, num_examples: int):
  """(examples with float [0, 1] 'x', the dataset's metadata dict)."""
  d = config.data
  _, builder = dataset_lib.open_split(d.dataset, split, d.data_dir)
  ex = pipeline.fixed_examples(d.dataset, split, d.data_dir, num_examples)
  ex["x"] = ex["image"].astype(np.float32) / 255.0
  return ex, dict(builder.info.metadata or {})


class Evaluator:
  """Loads the judging networks once; `score` then rates any set of reconstructions."""

  def __init__(self, config, dataset_metadata: Dict, *, classifier: str = None):
    e = config.eval
    self.config = config
    self.notes = []
    phi_dir = classifier or e.classifier or dataset_metadata.get("classifier_dir", "")
    if phi_dir and not os.path.exists(os.path.join(phi_dir, "classifier.json")):
      raise BiglogitError(f"classifier {phi_dir!r} (phi, for logit consistency) is not a classifier "
                          "directory; set --config.eval.classifier=DIR (eval.classifier in the config)")
    self.phi = nets.Classifier(phi_dir, e.batch_size) if phi_dir else None
    if self.phi is None:
      self.notes.append("no classifier phi known (eval.classifier unset and none in the dataset "
                        "metadata): logit-consistency metrics skipped")
    self.identifier = nets.Classifier(e.identifier, e.batch_size) if e.identifier else None
    if self.identifier is not None and self.phi is not None and \
        self.identifier.fingerprint == self.phi.fingerprint:
      raise BiglogitError(f"eval.identifier={e.identifier!r} is phi itself; identifiability needs an "
                          "independent classifier (another architecture or training run)")
    self.robust = nets.Classifier(e.robust_features, e.batch_size) if e.robust_features else None
    if self.robust is not None and self.phi is not None and self.robust.fingerprint == self.phi.fingerprint:
      raise BiglogitError(f"eval.robust_features={e.robust_features!r} is phi itself; the feature distance "
                          "and feature retrieval need an independent network (e.g. the converted ResNet-2B)")
    self.extractor = nets.FeatureExtractor(e.fid_extractor, e.batch_size) if e.fid_extractor else None
    for name, obj in (("identifiability", self.identifier), ("robust feature distance", self.robust),
                      ("FID/KID", self.extractor)):
      if obj is None:
        self.notes.append(f"{name} skipped (set it in the eval section of the config)")

  def describe(self) -> Dict[str, str]:
    return {"phi": self.phi.name if self.phi else "",
            "identifier": self.identifier.name if self.identifier else "",
            "robust_features": self.robust.name if self.robust else "",
            "fid_extractor": self.extractor.name if self.extractor else ""}

  def per_example(self, x, x_hat, logits, labels) -> Dict[str, np.ndarray]:
    """Every per-example metric (arrays of length N)."""
    out = {"psnr": M.psnr(x, x_hat), "ssim": M.ssim(x, x_hat)}
    if self.phi is not None:
      phi_hat = self.phi.logits(x_hat)
      out["phi_top1_agreement"] = (phi_hat.argmax(-1) == np.asarray(logits).argmax(-1)).astype(np.float64)
      out["logit_cosine"] = M.cosine(phi_hat, logits)
      out["logit_l2"] = M.l2(phi_hat, logits)
    if self.identifier is not None:
      judged = self.identifier.logits(x_hat).argmax(-1)
      out["identifiability_accuracy"] = (judged == labels).astype(np.float64)
      # sample quality as a class: does an independent classifier see phi's class in x_hat?
      out["identifier_agrees_with_phi"] = (judged == np.asarray(logits).argmax(-1)).astype(np.float64)
      out["identifier_accuracy_on_originals"] = (self.identifier.logits(x).argmax(-1) == labels).astype(np.float64)
    if self.robust is not None:
      fx, fh = self.robust.features(x), self.robust.features(x_hat)
      out["robust_feature_l2"] = M.l2(fh, fx)
      out["robust_feature_relative_l2"] = out["robust_feature_l2"] / np.maximum(
          np.linalg.norm(fx.reshape(len(fx), -1), axis=-1), 1e-12)
    out.update(leakage(x, x_hat, labels, "pixel"))
    if self.robust is not None:
      out.update(leakage(fx, fh, labels, "feature"))
    out["instance_gain_db"] = M.instance_gain_db(x_hat, x, labels)
    return out

  def summarize(self, per_example: Dict[str, np.ndarray], x=None, x_hat=None) -> Dict[str, Dict]:
    e = self.config.eval
    finite = {k: v[np.isfinite(v)] for k, v in per_example.items()}  # instance gain: NaN for lone classes
    summary = {k: M.bootstrap_ci(v, e.bootstrap) for k, v in finite.items() if len(v)}
    if self.extractor is not None and x is not None and len(x) > 1:
      fr, ff = self.extractor(x), self.extractor(x_hat)
      summary["fid"] = M.bootstrap_set_metric(M.fid, fr, ff, e.fid_bootstrap)
      unreliable = M.fid_unreliable(len(fr), fr.shape[-1])
      if unreliable:
        summary["fid"]["unreliable"] = unreliable
      summary["kid"] = M.bootstrap_set_metric(M.kid, fr, ff, e.fid_bootstrap)
    return summary

  def score(self, x, x_hat, logits, labels):
    """(summary {metric: {mean, ci_low, ci_high, n[, chance]}}, per-example arrays)."""
    per = self.per_example(x, x_hat, logits, labels)
    summary = self.summarize(per, x, x_hat)
    for name, level in chance_levels(logits, labels).items():
      if name in summary:
        summary[name]["chance"] = level
    return summary, per

  def noise_sensitivity(self, reconstruct: Callable, logits, num_samples: int, seed: int = 0,
                        indices=None):
    """Per-example noise_std over num_samples reconstructions with fresh eps, and the samples."""
    samples = np.stack([reconstruct(logits, seed=seed + 1000 + k, indices=indices)
                        for k in range(num_samples)])
    return M.noise_std(samples), samples


RETRIEVAL_K = (1, 5)


def leakage(originals, reconstructions, labels, space: str) -> Dict[str, np.ndarray]:
  """Per-example retrieval hits (0/1) of each reconstruction's own original, among all N evaluated
  originals and among those of the same true label, in one representation space."""
  out = {}
  for suffix, groups in (("", None), ("_in_class", labels)):
    ranks = M.retrieval_ranks(reconstructions, originals, groups)
    for k in RETRIEVAL_K:
      out[f"retrieval_top{k}_{space}{suffix}"] = (ranks < k).astype(np.float64)
  return out


def chance_levels(logits, labels) -> Dict[str, float]:
  """What an inverter scores when its output carries nothing about the instance: a class guessed
  from the marginal distribution (phi agreement, identifiability), an original picked at random
  (retrieval: k/N, within class k/n_c), no gain over the class's other images (instance gain 0)."""
  labels = np.asarray(labels)
  n = len(labels)
  out = {"phi_top1_agreement": M.agreement_chance(np.asarray(logits).argmax(-1)),
         "identifier_agrees_with_phi": M.agreement_chance(np.asarray(logits).argmax(-1)),
         "identifiability_accuracy": M.agreement_chance(labels), "instance_gain_db": 0.0}
  for space in ("pixel", "feature"):
    for k in RETRIEVAL_K:
      out[f"retrieval_top{k}_{space}"] = M.retrieval_chance(k, n=n)
      out[f"retrieval_top{k}_{space}_in_class"] = M.retrieval_chance(k, labels)
  return out


def evaluate_inverter(inverter, evaluator: Evaluator, examples) -> Tuple[Dict, Dict[str, np.ndarray]]:
  """The full metrics record of one inverter on held-out examples (what eval/metrics.json holds), and
  its per-example values with the examples' indices (for write_record's per_example)."""
  e = inverter.config.eval
  x, logits, labels = examples["x"], examples["logits"], examples["label"]
  start = time.perf_counter()
  x_hat = inverter.reconstruct(logits, seed=0, indices=examples["index"])
  seconds = time.perf_counter() - start
  summary, per_example = evaluator.score(x, x_hat, logits, labels)
  if inverter.stochastic and e.noise_samples > 1:
    n = min(e.noise_examples, len(x))
    noise, _ = evaluator.noise_sensitivity(inverter.reconstruct, logits[:n], e.noise_samples,
                                           indices=examples["index"][:n])
    summary["noise_std"] = M.bootstrap_ci(noise, e.bootstrap)
  plain_decoder = not inverter.stochastic and inverter.inference.plain
  described = "one forward pass (no eps)" if plain_decoder else inverter.inference.describe()
  return {"run": inverter.name, "workdir": inverter.workdir, "step": inverter.step,
          "method": inverter.config.method, "release": release.describe(inverter.config.release),
          "dataset": inverter.config.data.dataset, "num_examples": int(len(x)),
          "inference": {**inverter.inference.to_dict(), "described": described,
                        # wall time of reconstruct (compilation included) over the examples
                        "seconds_per_image": seconds / max(len(x), 1)},
          "networks": evaluator.describe(), "notes": evaluator.notes, "metrics": summary}, \
      {**per_example, "index": examples["index"]}


def markdown_table(record: Dict) -> str:
  lines = [f"# Evaluation of {record['run']}", "",
           f"step {record.get('step', '-')}, split {record.get('split', '-')}, "
           f"{record['num_examples']} examples, method {record.get('method', '-')}, "
           f"release: {record.get('release', '-')}",
           f"inference: {record.get('inference', {}).get('described', 'one draw of eps ~ N(0, 1)')}", "",
           "Baselines (same examples, trivial inverters; see biglogit/evaluate/trivial_inverters.py) and the "
           "chance level of each accuracy-like metric stand beside the run: a claim needs its interval "
           "clear of them.", ""] + metrics_table_lines(record)
  nets_used = {k: v for k, v in record.get("networks", {}).items() if v}
  if nets_used:
    lines += [""] + [f"- {k}: {v}" for k, v in nets_used.items()]
  if record.get("notes"):
    lines += [""] + [f"- note: {n}" for n in record["notes"]]
  return "\n".join(lines) + "\n"


def metrics_table_lines(record: Dict):
  """The record's metrics as markdown table rows: mean, CI, n, chance, then each baseline."""
  base = record.get("baselines") or {}
  lines = ["| " + " | ".join(["metric", "mean", "95% CI", "n", "chance", *base]) + " |",
           "|" + "---|" * (5 + len(base))]
  for name, m in record["metrics"].items():
    chance = f"{m['chance']:.4g}" if "chance" in m else "-"
    mean = f"{m['mean']:.4g}" + (" (unreliable: too few samples)" if m.get("unreliable") else "")
    cells = [name, mean, f"[{m['ci_low']:.4g}, {m['ci_high']:.4g}]", str(m["n"]), chance]
    lines.append("| " + " | ".join(cells + [fmt_ci(b.get(name)) for b in base.values()]) + " |")
  return lines


def fmt_ci(m) -> str:
  """A {mean, ci_low, ci_high} summary as 'mean [lo, hi]' (4 significant digits); '-' if absent."""
  if not m:
    return "-"
  return f"{m['mean']:.4g} [{m['ci_low']:.4g}, {m['ci_high']:.4g}]"


# Kept per example beside a record (STEM_per_example.npz, with the examples' indices in the split) so
# that two evaluations on the same images can be compared pairwise (biglogit.report.contrast): the
# interval of a difference of means, which two separate intervals cannot give.
PAIRED_METRICS = ("instance_gain_db", "retrieval_top1_pixel_in_class", "retrieval_top1_feature_in_class",
                  "identifiability_accuracy", "psnr")
# Named by content: a new evaluation never overwrites the file the previous record of the same stem
# reads, so a failure between the two writes leaves that record whole.
PER_EXAMPLE = "{stem}_per_example_{digest}.npz"


def _per_example_file(json_path: str):
  """The per-example file the record at json_path names, if it is there, readable and one of ours (a
  plain name of this stem's pattern: an edited record cannot point the clean-up at another file)."""
  try:
    name = json.loads(epath.Path(json_path).read_text()).get("per_example", {}).get("file")
  except (OSError, ValueError, AttributeError):
    return None
  stem = os.path.splitext(os.path.basename(json_path))[0]
  pattern = re.compile(re.escape(PER_EXAMPLE.format(stem=stem, digest="@")).replace("@", "[0-9a-f]{12}") + "$")
  return name if isinstance(name, str) and pattern.match(name) else None


def write_record(out_dir: str, record: Dict, stem: str = "metrics", per_example: Dict[str, np.ndarray] = None):
  """STEM.md, then STEM.json (files.write_pair: a reader never takes one half of an interrupted pair);
  first, given per_example (Evaluator.score's arrays and "index"), the PAIRED_METRICS of it, whose name
  and sha256 the record keeps (read_per_example checks it); the previous record's file goes once the
  new record is written, the new file if it is not."""
  json_path = os.path.join(out_dir, f"{stem}.json")
  if per_example is None:
    return files.write_pair(json_path, json.dumps(record, indent=2), os.path.join(out_dir, f"{stem}.md"),
                            markdown_table(record))
  arrays = {k: np.asarray(per_example[k], np.float32) for k in PAIRED_METRICS if k in per_example}
  arrays["index"] = np.asarray(per_example["index"], np.int64)
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  digest = hashlib.sha256(buffer.getvalue()).hexdigest()
  name, previous = PER_EXAMPLE.format(stem=stem, digest=digest[:12]), _per_example_file(json_path)
  new_file = epath.Path(out_dir) / name
  files.atomic_write(new_file, buffer.getvalue())
  record = {**record, "per_example": {"file": name, "sha256": digest}}
  try:
    files.write_pair(json_path, json.dumps(record, indent=2), os.path.join(out_dir, f"{stem}.md"),
                     markdown_table(record))
  except BaseException:
    if name != previous:
      new_file.unlink(missing_ok=True)
    raise
  if previous and previous != name:
    (epath.Path(out_dir) / previous).unlink(missing_ok=True)




RERUN = "run python -m biglogit.evaluate (or the training's evaluation) again to rewrite it"


def read_record(json_path: str) -> Dict:
  """A record written by write_record, checked against the markdown beside it and for the fields every
  reader uses (each metric's mean), or one line saying which file is broken."""
  record = files.parse_json(files.read_pair(json_path, os.path.splitext(json_path)[0] + ".md"), json_path, RERUN)
  metrics = record.get("metrics") if isinstance(record, dict) else None
  if (not isinstance(metrics, dict) or not isinstance(record.get("num_examples"), int) or
      not all(isinstance(m, dict) and "mean" in m for m in metrics.values())):
    raise BiglogitError(f"{json_path} is not an evaluation record (it lacks 'metrics' with a mean each, or "
                        f"'num_examples'); {RERUN}")
  return record


def read_per_example(json_path: str) -> Tuple[Dict, Dict[str, np.ndarray]]:
  """(record, its per-example arrays), or one line: evaluated before per-example values were kept, or
  the file beside it is not the one the record was written with."""
  record = read_record(json_path)
  entry = record.get("per_example")
  if not entry:
    raise BiglogitError(f"{json_path} keeps no per-example values (evaluated before they were kept); "
                        "evaluate it again")
  path = os.path.join(os.path.dirname(json_path), os.path.basename(str(entry.get("file", ""))))
  try:
    data = epath.Path(path).read_bytes()
  except FileNotFoundError:
    raise BiglogitError(f"{path}, the per-example values of {json_path}, is missing; evaluate it again") from None
  if hashlib.sha256(data).hexdigest() != entry["sha256"]:
    raise BiglogitError(f"{path} is not the file {json_path} was written with (replaced or damaged); "
                        "evaluate it again")
  with np.load(io.BytesIO(data)) as arrays:
    return record, {k: arrays[k] for k in arrays.files}


def scalars(record: Dict, prefix: str = "eval/") -> Dict[str, float]:
  return {prefix + k: v["mean"] for k, v in record["metrics"].items()}

