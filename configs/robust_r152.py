"""ImageNet inverter for an adversarially robust ResNet-152 (the paper's headline model, Fig. 1 col. 2).

Command (hardware: a TPU pod slice or 8-GPU hosts; memory per device, what fits where with which
train.grad_accum, projected step time and host cores: docs/scaling.md):
  python -m biglogit.data.make_logits --source=tfds:imagenet2012 --classifier=CONVERTED_R152_DIR \
      --data_dir=gs://BUCKET/data --store_resolution=128 --name=imagenet2012_robust_r152
  python -m biglogit.main --config=configs/robust_r152.py --workdir=gs://BUCKET/runs/robust_r152 \
      --config.data.data_dir=gs://BUCKET/data
The classifier: MadryLab `robustness` ImageNet ResNet-152 (L-inf or L2), converted with
python -m biglogit.convert --arch=resnet152 --checkpoint=imagenet_linf_4.pt --out=DIR.
Model: BigGAN-128 widths (ch 96), self-attention at 64x64, 1000 logits, global batch 2048; it fits with
--config.train.grad_accum=2 on 8 H100s, 4 on a v5e-16, 8 on a v4-8 (estimates: docs/scaling.md).
Reproduces: reconstructions with global structure and local detail (paper Fig. 1, 2, 5-8).
"""
from biglogit.config_base import base_config


def get_config():
  c = base_config()
  c.model.resolution = 128
  c.model.num_classes = 1000
  c.model.ch_g = 96
  c.model.ch_d = 96
  c.model.cond_hidden = 256
  c.model.g_attention = 64
  c.model.d_attention = 64
  c.model.compute_dtype = "bfloat16"
  c.train.global_batch = 2048
  c.train.num_steps = 250_000
  c.train.ema_start = 20_000
  c.data.dataset = "imagenet2012_robust_r152"
  # PNG decoding in worker processes: read threads share one interpreter lock (about one core's worth),
  # workers scale with the host's cores; an 8-GPU host at 40% MFU needs about 8 (docs/scaling.md).
  c.data.worker_count = 8
  c.data.eval_split = "validation"
  c.log_every = 100
  c.checkpoint_every = 2000
  c.image_every = 5000
  return c
