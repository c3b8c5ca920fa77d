"""CIFAR-10 inverters, one family: --config=configs/cifar10.py:PHI[,SCALE] (default resnet20,gpu).

PHI, the classifier inverted (its logits dataset is data_out/logits_dataset/cifar10_PHI):
  resnet20  the standard akamaster ResNet-20 (81.0% clean accuracy)
  resnet4b  the adversarially trained VNN-COMP 2021 ResNet-4B (PGD, L-inf 2/255)
(ResNet-4B and ResNet-20 also differ in architecture; configs/classifier_cifar10.py trains a
same-architecture standard/robust pair for a confound-free comparison.)

Conditioning (every SCALE, the base config's default): G and D see the released logits standardised
per dimension by the training split's mean and std and scaled to unit expected norm
(conditioning.normalize=standardize, data/conditioning.py), not the raw logits, whose norms (9 for
ResNet-4B, 21 for ResNet-20) degraded the images and confounded robust vs standard
(results/conditioning/README.md). --config.conditioning.normalize=none gives the paper's raw logits.

SCALE:
  gpu         BigGAN-32 (ch 64 in G and D, 3 G blocks, no attention), global batch 256, 2 D steps per
              G step, 50,000 steps: the paper's Fig. 1 columns (standard and robust logits) on CIFAR-10.
              Hardware: one GPU; time not yet measured (python -m biglogit.benchmark
              --config=configs/cifar10.py:resnet20 times it).
  cpu         the same GAN at a quarter of the width (ch 16, batch 64, EMA 0.999 from step 200), for
              machines without an accelerator: the quickstart's model and the first CPU releases.
              Reproduces the robust-vs-standard comparison qualitatively only: far fewer images seen.
  cpu_long    the CPU-trained releases: the settings that learned fastest per CPU-minute on 2 cores.
              BigGAN-32 with ch 8, global batch 32, 1 D step per G step, G and D lr 4e-4, EMA 0.99 from
              step 100, 4000 steps (about 30 minutes each on 2 idle cores, see the model cards);
              evaluated on 1000 held-out test images every 1000 steps (the learning curve).
  quickstart  the README's main command: builds the logits dataset from data.source through phi if
              missing, trains 60 steps of the cpu GAN, evaluates the final EMA generator.

Data (the logits datasets; the quickstart builds its own):
  python -m biglogit.data.make_logits --source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz \
      --classifier=pretrained/cifar10/resnet20 --data_dir=data_out --name=cifar10_resnet20
  python -m biglogit.data.make_logits --source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz \
      --classifier=pretrained/cifar10/resnet4b --data_dir=data_out --name=cifar10_resnet4b
Training:
  python -m biglogit.main --config=configs/cifar10.py:resnet20 --workdir=workdirs/cifar10_resnet20
  python -m biglogit.main --config=configs/cifar10.py:resnet4b --workdir=workdirs/cifar10_resnet4b
  python -m biglogit.main --config=configs/cifar10.py:resnet20,cpu --workdir=workdirs/cpu_resnet20
  python -m biglogit.main --config=configs/cifar10.py:resnet4b,cpu_long --workdir=workdirs/long_resnet4b
  python -m biglogit.main --config=configs/cifar10.py:resnet4b,cpu_long --workdir=workdirs/long_resnet4b_top1 \
      --config.release.kind=top1
  python -m biglogit.main --config=configs/cifar10.py:resnet20,cpu_long --workdir=workdirs/long_resnet20
  python -m biglogit.main --config=configs/cifar10.py:resnet4b,quickstart --workdir=workdirs/quickstart \
      --config.data.source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz
Add --config.eval.identifier=workdirs/judges/resnet56 for identifiability in the periodic evaluation
(launch/evaluate_cifar10.sh converts that judge).

Leakage under restricted outputs: get_sweep() below trains the resnet4b inverter once per release
format of the classifier's output (data/release.py: full logits, softmax, top-5, top-1 label, rounded
probabilities), one workdir each (hardware: one GPU each, time not yet measured):
  python launch/sweep.py --config=configs/cifar10.py:resnet4b --root=workdirs/release
then evaluate each run and compare:
  python -m biglogit.evaluate --workdir=workdirs/release/kind=softmax  (etc.)
  python -m biglogit.report workdirs/release/* --out=results/release

Why cpu_long's settings (configs/learning_check.py's measurements, 256-image subset, EMA generator):
- cpu's optimiser settings (2 D steps, G/D lr 1e-4/4e-4, EMA 0.999 from 200) learned nothing
  measurable in 500 steps: phi agreement 0.12 (chance 0.10), instance gain 0.07 dB.
- cpu_long's (1 D step, lr 4e-4/4e-4, EMA 0.99 from 100): after 900 steps instance gain 1.08
  [0.85, 1.33] dB vs 0.05 for the label-only control, phi agreement 0.457 (on a subset that was, it
  turned out, 256 airplanes; configs/learning_check.py has the later figures across the classes).
- ch 8 / batch 32 runs 86 images/s on 2 cores (python -m biglogit.benchmark), ch 16 / batch 64 with 2
  D steps 14 images/s: 6x the images per CPU-minute.

The quickstart's time on an idle 2-core CPU (measured, empty data_dir and compile cache): 1 min 47 s
for the logits dataset, 4 min 26 s of training with compilation (3.9 s per step on 4 XLA devices),
2 min of evaluation with the baselines; 8 min 16 s. Source images: default tfds:cifar10 (downloaded
where the network allows), or a local folder / tarball in split/class/file layout via
--config.data.source. Output in WORKDIR: config.json, metrics.jsonl + tensorboard/, images/step_*.png
(original | two reconstructions), checkpoints/, eval/metrics.{json,md}. It reproduces nothing at this
length: after 60 steps the reconstructions are coloured noise, at chance on every leakage metric.
It shows the pipeline working end to end.
"""
from biglogit.config_base import base_config

CLASSIFIERS = ("resnet20", "resnet4b")
SCALES = ("gpu", "cpu", "cpu_long", "quickstart")


def get_config(variant: str = "resnet20"):
  phi, _, scale = variant.partition(",")
  scale = scale or "gpu"
  if phi not in CLASSIFIERS or scale not in SCALES:
    raise ValueError(f"variant {variant!r}; use configs/cifar10.py:PHI[,SCALE] with PHI one of "
                     f"{', '.join(CLASSIFIERS)} and SCALE one of {', '.join(SCALES)}")
  c = _gpu(phi)
  if scale in ("cpu", "cpu_long", "quickstart"):
    _cpu(c)
  if scale == "cpu_long":
    _cpu_long(c)
  if scale == "quickstart":
    _quickstart(c, phi)
  return c


def get_sweep():
  return [{"release.kind": "full"}, {"release.kind": "softmax"},
          {"release.kind": "topk", "release.k": 5}, {"release.kind": "top1"},
          {"release.kind": "rounded", "release.decimals": 2}]


def _gpu(phi):
  c = base_config()
  c.model.resolution = 32
  c.model.num_classes = 10
  c.model.ch_g = 64
  c.model.ch_d = 64
  c.model.cond_hidden = 128
  c.train.global_batch = 256
  c.train.num_steps = 50_000
  c.train.ema_start = 1000
  c.data.dataset = f"cifar10_{phi}"
  c.data.data_dir = "data_out"
  # Judge of the feature distance and feature-space retrieval: a robust network that is neither
  # inverted classifier (evaluation refuses phi itself).
  c.eval.robust_features = "pretrained/cifar10/resnet2b"
  c.log_every = 100
  c.checkpoint_every = 1000
  c.image_every = 1000
  return c


def _cpu(c):
  c.model.ch_g = 16
  c.model.ch_d = 16
  c.model.cond_hidden = 64
  c.train.global_batch = 64
  c.train.num_steps = 20_000  # stop it earlier with SIGTERM: it checkpoints and exits cleanly
  c.train.ema_start = 200
  c.train.ema_decay = 0.999
  c.data.num_read_threads = 2
  c.log_every = 50
  c.checkpoint_every = 250
  c.image_every = 500
  c.eval.num_examples = 1000


def _cpu_long(c):
  c.model.ch_g = 8
  c.model.ch_d = 8
  c.train.global_batch = 32
  c.train.d_steps = 1
  c.train.g_lr = 4e-4
  c.train.d_lr = 4e-4
  c.train.ema_decay = 0.99
  c.train.ema_start = 100
  c.train.num_steps = 4000
  c.eval.num_examples = 1000
  c.eval.every = 1000
  c.eval.at_end = True
  c.eval.noise_examples = 100
  c.log_every = 100
  c.checkpoint_every = 500
  c.image_every = 1000


def _quickstart(c, phi):
  c.data.source = "tfds:cifar10"
  c.data.classifier = f"pretrained/cifar10/{phi}"
  c.train.num_steps = 60
  c.log_every = 10
  c.checkpoint_every = 30
  c.image_every = 30
  c.eval.at_end = True
  c.eval.num_examples = 500
  # judges independent of phi: a standard network for identifiability (ResNet-4B's quickstart; for
  # resnet20 it is phi itself, so the judge is skipped) and a robust one for the feature distance
  c.eval.identifier = "pretrained/cifar10/resnet20" if phi != "resnet20" else ""
  c.eval.robust_features = "pretrained/cifar10/resnet2b"
  c.eval.fid_extractor = "classifier:pretrained/cifar10/resnet20"  # stand-in: no Inception offline
