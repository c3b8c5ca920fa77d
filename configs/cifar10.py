"""CIFAR-10 inverters, one family: --config=configs/cifar10.py:PHI[,SCALE] (default resnet20,gpu).

PHI, the classifier inverted (its logits dataset: data_out/logits_dataset/cifar10_PHI): resnet20
  (standard akamaster ResNet-20), resnet4b (robust VNN-COMP ResNet-4B, another architecture too), and
  the pairs trained here (configs/classifier_cifar10.py): resnet20_trained_standard / _robust (differ
  in objective only), inception_trained_standard / _robust (vs. the ResNet-20s: in architecture only).
G and D see the released logits standardised per dimension by the training split's statistics
(conditioning.normalize=standardize; why: results/conditioning/README.md).
SCALE:
  gpu         BigGAN-32, ch 64, batch 256, 2 D steps, 50,000 steps: the paper's Fig. 1 columns (one
              GPU; on an H200 shared by three or four runs 3.7-3.8 steps/s each, capped by PNG decoding
              before data.in_memory: launch/gpu_release_cifar10.sh, results/gpu/README.md; export with
              --standing_stats)
  cpu         ch 16, batch 64, EMA 0.999 from 200: the quickstart's model
  cpu_long    the CPU releases: ch 8, batch 32, 1 D step, lr 4e-4, EMA 0.99 from 100, 4000 steps with
              an evaluation every 1000 (about 30 minutes on 2 idle cores; the model cards have each time)
  quickstart  the README's main command: builds the dataset if missing, fine-tunes the committed 5-hour
              run runs/cifar10/PHI (cpu_hours's model) for 60 steps, evaluates on 500 test images
  quickstart_scratch  the same 60 steps from a random init at cpu's model (a smoke run: no images yet)
  cpu_hours   the long CPU runs: cpu_long with ch 16 and DiffAugment, chosen by equal-time comparison
              (results/recipe/README.md), 5 hours of training time each (train.budget_hours), an
              evaluation every 0.5 h, one checkpoint kept; the dataset is built from ../shared if missing
              (runs/cifar10/ holds the runs, committed to resume anywhere: results/long/README.md)
Data, then training (add --config.eval.identifier=workdirs/judges/resnet56 for identifiability;
launch/evaluate_cifar10.sh converts that judge):
  python -m biglogit.data.make_logits --source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz \
      --classifier=pretrained/cifar10/resnet4b --data_dir=data_out --name=cifar10_resnet4b
  python -m biglogit.main --config=configs/cifar10.py:resnet4b,cpu_long --workdir=workdirs/long_resnet4b
  python -m biglogit.main --config=configs/cifar10.py:resnet4b,cpu_long --workdir=workdirs/long_resnet4b_top1 \
      --config.release.kind=top1
  python -m biglogit.main --config=configs/cifar10.py:resnet4b,quickstart --workdir=workdirs/quickstart \
      --config.data.source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz
(resnet20 likewise: --classifier=pretrained/cifar10/resnet20 --name=cifar10_resnet20, :resnet20,SCALE.)
Leakage under restricted outputs: get_sweep() trains one resnet4b inverter per release format (full,
softmax, top-5, top-1, rounded; one GPU each), then evaluate and compare:
  python launch/sweep.py --config=configs/cifar10.py:resnet4b --root=workdirs/release
  python -m biglogit.evaluate --workdir=workdirs/release/kind=softmax  (etc.)
  python -m biglogit.report workdirs/release/* --out=results/release
Why cpu_long's settings, the quickstart's time: docs/measurements.md, docs/performance.md.
"""
from biglogit.config_base import base_config

CLASSIFIERS = ("resnet20", "resnet4b", "resnet20_trained_standard", "resnet20_trained_robust",
               "inception_trained_standard", "inception_trained_robust")
SCALES = ("gpu", "cpu", "cpu_long", "quickstart", "quickstart_scratch", "cpu_hours")


def get_config(variant: str = "resnet20"):
  phi, _, scale = variant.partition(",")
  scale = scale or "gpu"
  if phi not in CLASSIFIERS or scale not in SCALES:
    raise ValueError(f"variant {variant!r}; use configs/cifar10.py:PHI[,SCALE] with PHI one of "
                     f"{', '.join(CLASSIFIERS)} and SCALE one of {', '.join(SCALES)}")
  c = _gpu(phi)
  if scale in ("cpu", "cpu_long", "quickstart", "quickstart_scratch", "cpu_hours"):
    _cpu(c)
  if scale in ("cpu_long", "cpu_hours", "quickstart"):
    _cpu_long(c)
  if scale in ("cpu_hours", "quickstart"):
    _long_recipe(c)
  if scale == "cpu_hours":
    _cpu_hours(c, phi)
  if scale in ("quickstart", "quickstart_scratch"):
    _quickstart(c, phi, fine_tune=scale == "quickstart")
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
  # 160 MB decoded; decoding 512 PNGs per step in Python capped each GPU run at ~3.8 steps/s
  # (results/gpu/README.md). The CPU scales read 32-64 images per step and skip the 20 s load.
  c.data.in_memory = True
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
  c.data.in_memory = False
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


# The long runs' recipe: the best quality per hour of training among cpu_long's one-setting variants
# given equal time (results/recipe/README.md: launch/recipe_cifar10.sh, python -m biglogit.report.recipe).
LONG_RECIPE = {"model.ch_g": 16, "model.ch_d": 16, "train.global_batch": 32, "train.d_steps": 1,
               "train.diff_augment": "translation,cutout"}


def _long_recipe(c):
  for key, value in LONG_RECIPE.items():
    section, name = key.split(".")
    c[section][name] = value


def _cpu_hours(c, phi):
  c.train.num_steps = 100_000_000  # the time budget ends the run
  c.train.budget_hours = 5.0
  c.eval.every = 0
  c.eval.every_hours = 0.5
  c.eval.at_end = True
  c.keep_checkpoints = 1  # the one latest checkpoint committed with the run
  c.checkpoint_every = 1000
  c.image_every = 5000
  c.data.source = "../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz"
  c.data.classifier = f"pretrained/cifar10/{phi}"


def _quickstart(c, phi, fine_tune: bool):
  c.data.source = "tfds:cifar10"
  c.data.classifier = f"pretrained/cifar10/{phi}"
  if fine_tune:  # 60 steps on from the committed 5-hour run of this phi (cpu_hours's model), so the
    # first picture is a real reconstruction; its optimiser state too, and the EMA goes on from its own
    c.train.init_from = f"runs/cifar10/{phi}"
    c.train.init_parts = "all"
    c.train.ema_start = 0
  c.train.num_steps = 60
  c.log_every = 10
  c.checkpoint_every = 30
  c.image_every = 30
  c.eval.every = 0
  c.eval.at_end = True
  c.eval.num_examples = 500
  # judges independent of phi: a standard network for identifiability (ResNet-4B's quickstart; for
  # resnet20 it is phi itself, so the judge is skipped) and a robust one for the feature distance
  c.eval.identifier = "pretrained/cifar10/resnet20" if phi != "resnet20" else ""
  c.eval.robust_features = "pretrained/cifar10/resnet2b"
  c.eval.fid_extractor = "classifier:pretrained/cifar10/resnet20"  # stand-in: no Inception offline
