"""The fidelity page: rows grouped by phi, baselines from the plain rows, the bar applied as stated."""
import json
import os

from biglogit.report import fidelity


def _m(mean, half=0.1):
  return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": 100}


def _record(dataset, gain, pixel, fd, release="full logits", levers=None, baselines=None):
  return {"run": "r", "dataset": dataset, "method": "gan", "release": release, "num_examples": 1000,
          "inference": {"described": "x", "seconds_per_image": 0.01, **(levers or {})},
          "metrics": {"instance_gain_db": _m(gain), "retrieval_top1_pixel_in_class": _m(pixel, 0.02),
                      "fid": _m(fd)}, "baselines": baselines or {}}


def _write(root, release, row, record):
  os.makedirs(os.path.join(root, release, row, "eval"))
  with open(os.path.join(root, release, row, "eval", "metrics.json"), "w") as f:
    json.dump(record, f)


def test_rows_baselines_and_the_bar(tmp_path):
  root, out = str(tmp_path / "root"), str(tmp_path / "page")
  nearest = {"instance_gain_db": _m(2.0), "retrieval_top1_pixel_in_class": _m(0.15, 0.02), "fid": _m(0.2)}
  _write(root, "inv", "plain", _record("d", 1.5, 0.10, 1.0, baselines={"nearest_logits": nearest}))
  _write(root, "inv", "k16", {**_record("d", 2.3, 0.14, 1.2, levers={"best_of": 16, "truncation": None}),
                              "workdir": "runs/x/inv"})
  _write(root, "inv", "t0", _record("d", 2.6, 0.15, 3.0, levers={"truncation": 0.0}))
  _write(root, "ctrl", "plain", _record("d", 0.1, 0.01, 1.0, release="top-1 label (one-hot)"))
  intro = tmp_path / "intro.md"
  intro.write_text("# Findings\n")
  text = fidelity.report(root, out, [], str(intro))
  assert text.startswith("# Findings") and os.path.exists(os.path.join(out, "gain_vs_fd_d.png"))
  rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
  assert rows["inv [k16]"].endswith("| yes |")  # gain above 2.0, pixel retrieval reaches, FD <= 1.25
  assert rows["inv [t0]"].endswith("no: FD |")
  assert rows["inv [plain]"].endswith("no: gain, pixel retrieval |")
  assert "baseline: nearest logits" in rows and "--best_of=16 --noise_samples=0" in text
  # each row's command names what was evaluated: a training workdir as well as a release
  assert "python -m biglogit.evaluate --workdir=runs/x/inv JUDGES --best_of=16 --noise_samples=0" in text
