"""Tiny config for tests and smoke runs: 32x32, 10 logits, widths of 4 channels.

Command (CPU: about a minute, mostly compilation):
  python -m biglogit.main --config=configs/tiny.py --workdir=/tmp/tiny \
      --config.data.dataset=PATH_TO_A_LOGITS_DATASET
Reproduces nothing from the paper; it exercises every code path at toy size.
"""
from biglogit.config_base import base_config


def get_config():
  c = base_config()
  c.model.ch_g = 4
  c.model.ch_d = 4
  c.model.dim_z = 20
  c.model.cond_hidden = 16
  c.model.g_attention = 16
  c.model.d_attention = 16
  c.train.global_batch = 8
  c.train.num_steps = 4
  c.train.d_steps = 2
  c.train.ema_start = 2
  c.train.ema_decay = 0.9
  c.data.num_read_threads = 2
  c.log_every = 1
  c.checkpoint_every = 2
  c.image_every = 2
  c.num_grid_images = 4
  return c
