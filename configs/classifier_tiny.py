"""Tiny classifier config for tests: ResNet-8 of width 4 on a few generated images.

Command (CPU: well under a minute):
  python -m biglogit.classifiers.fit --config=configs/classifier_tiny.py --workdir=/tmp/clf_tiny \
      --config.data.source=PATH_TO_A_SPLIT_CLASS_FILE_FOLDER
"""
from biglogit.config_base import classifier_base_config


def get_config():
  c = classifier_base_config()
  c.model.arch = "cifar_resnet8"
  c.model.num_classes = 2
  c.model.module_kwargs.width = 4
  c.train.global_batch = 8
  c.train.num_epochs = 2
  c.train.learning_rate = 0.05
  c.adversarial.steps = 2
  c.evaluation.pgd_steps = 2
  c.evaluation.pgd_examples = 8
  c.log_every = 1
  c.checkpoint_every = 2
  return c
