"""CPU-sized CIFAR-10 inverter: the GAN of configs/cifar10_resnet20.py at a quarter of the width, for
machines without an accelerator (the CPU-trained checkpoints in results/ and pretrained/ use it).

Commands (2 CPU cores; see the model cards for the measured steps and time):
  python -m biglogit.main --config=configs/cifar10_cpu.py --workdir=workdirs/cpu_resnet20 \
      --config.data.dataset=cifar10_resnet20
  python -m biglogit.main --config=configs/cifar10_cpu.py --workdir=workdirs/cpu_resnet4b \
      --config.data.dataset=cifar10_resnet4b
Model: BigGAN-32 with ch 16 in G and D, global batch 64, 2 D steps per G step; EMA from step 200.
Reproduces the robust-vs-standard comparison qualitatively only: far fewer images seen than on a GPU.
"""
from biglogit.config_base import sibling

cifar10_resnet20 = sibling(__file__, "cifar10_resnet20")


def get_config():
  c = cifar10_resnet20.get_config()
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
  return c
