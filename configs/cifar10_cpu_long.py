"""The CPU-trained CIFAR-10 releases: the settings that learned fastest per CPU-minute on 2 cores.

Commands (2 CPU cores, nothing else running; each about 30 minutes, see the model cards):
  python -m biglogit.main --config=configs/cifar10_cpu_long.py --workdir=workdirs/long_resnet4b
  python -m biglogit.main --config=configs/cifar10_cpu_long.py --workdir=workdirs/long_resnet4b_top1 \\
      --config.release.kind=top1
  python -m biglogit.main --config=configs/cifar10_cpu_long.py --workdir=workdirs/long_resnet20 \\
      --config.data.dataset=cifar10_resnet20
Add --config.eval.identifier=workdirs/judges/resnet56 for identifiability in the periodic evaluation
(launch/evaluate_cifar10.sh converts that judge).
Model: BigGAN-32 with ch 8 in G and D, global batch 32, 1 D step per G step, G and D lr 4e-4, EMA
0.99 from step 100; evaluated on 1000 held-out test images every 1000 steps (the learning curve).

Why these settings (configs/learning_check.py's measurements, 256-image subset, EMA generator):
- cifar10_cpu's optimiser settings (2 D steps, G/D lr 1e-4/4e-4, EMA 0.999 from 200) learned nothing
  measurable in 500 steps: phi agreement 0.12 (chance 0.10), instance gain 0.07 dB.
- these (1 D step, lr 4e-4/4e-4, EMA 0.99 from 100): after 900 steps instance gain 1.08 [0.85, 1.33] dB
  vs 0.05 for the label-only control, phi agreement 0.457.
- ch 8 / batch 32 runs 86 images/s on 2 cores (python -m biglogit.benchmark), ch 16 / batch 64 with 2
  D steps 14 images/s: 6x the images per CPU-minute.
"""
from biglogit.config_base import sibling

cifar10_cpu = sibling(__file__, "cifar10_cpu")


def get_config():
  c = cifar10_cpu.get_config()
  c.data.dataset = "cifar10_resnet4b"
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
  return c
