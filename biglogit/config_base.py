"""Defaults shared by all GAN configs; each file in configs/ starts from these and says what it changes.

Defaults where the paper is silent are BigGAN's (method.md): Adam(b1=0, b2=0.999, eps=1e-6),
G lr 1e-4, D lr 4e-4, 2 D steps per G step, EMA of G.
"""
import importlib.util
import os

import ml_collections


def sibling(config_file: str, name: str):
  """The config module `name` from the folder of `config_file`, loaded by path: a config that builds
  on another (`learning_check` on `cifar10`) then loads from any working directory, without
  configs/ being importable as a package."""
  path = os.path.join(os.path.dirname(os.path.abspath(config_file)), name + ".py")
  spec = importlib.util.spec_from_file_location(f"biglogit_config_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.kind = "gan"
  c.method = "gan"  # "gan": the paper's single hinge loss; "deepsim": the Dosovitskiy & Brox baseline
  c.seed = 0

  c.model = ml_collections.ConfigDict()
  c.model.resolution = 32
  c.model.num_classes = 10  # length of the logit vector z
  c.model.ch_g = 64  # base width; channels per block are multiples of it (models/arch.py)
  c.model.ch_d = 64
  c.model.dim_z = 120  # eps ~ N(0, I), split hierarchically over G's blocks
  c.model.cond_hidden = 256  # hidden width of the gamma/beta MLPs of eq. 3
  c.model.g_attention = 0  # resolution of G's self-attention block (0: none)
  c.model.d_attention = 0
  c.model.compute_dtype = "float32"  # or "bfloat16" (params stay float32)

  c.train = ml_collections.ConfigDict()
  c.train.global_batch = 256
  c.train.num_steps = 100_000
  c.train.d_steps = 2
  c.train.g_lr = 1e-4
  c.train.d_lr = 4e-4
  c.train.b1 = 0.0
  c.train.b2 = 0.999
  c.train.adam_eps = 1e-6
  c.train.ema_decay = 0.9999
  c.train.ema_start = 1000
  # Gradient accumulation: each D and G update averages the gradients of grad_accum micro-batches of
  # global_batch / grad_accum, run one after another, so fewer or smaller chips keep the paper's batch
  # (batch norm normalises each micro-batch by its own statistics: docs/scaling.md#gradient-accumulation).
  # 1 = none.
  c.train.grad_accum = 1
  # Training time, in hours, after which the run ends as finished even before num_steps (0: none):
  # for comparing recipes at equal time, and long runs on a budget. The time is summed over resumes
  # (saved with each checkpoint), without compilation, evaluations or image grids; raise it to go on.
  c.train.budget_hours = 0.0
  # Not in the paper: weight of a matching-aware D term (Reed et al. 2016). Each real image is also
  # shown with another example's logits (the batch rolled by one) and must be judged fake, which
  # trains D's projection to check the image against *these* logits rather than their class alone.
  # 0 = the paper's single hinge loss.
  c.train.mismatch_weight = 0.0
  # Not in the paper: differentiable augmentation of every image D sees, real and generated
  # (augment.py, DiffAugment): a comma-separated subset of color, translation, cutout. For few
  # training images, where D otherwise memorises them. "" = none (the paper).
  c.train.diff_augment = ""
  # Not in the paper: weight lambda of a logit-consistency loss for G, lambda * ||n(phi(G(z, eps))) -
  # n(z)||^2 (n: the conditioning below), through the frozen classifier phi's gradients (robust
  # classifiers have perceptually aligned ones). Needs release.kind full or softmax. 0 = off (the paper).
  c.train.consistency_weight = 0.0
  c.train.consistency_classifier = ""  # phi's directory; "" = the classifier that made the logits
  # Not in the paper: a hybrid of the two objectives, the DeePSiM decoder's pixel and feature terms
  # (deepsim.comparator's features, as method=deepsim uses them) added to the GAN's generator loss
  # with these weights. 0 = off (the paper's single adversarial loss).
  c.train.hybrid_pixel_weight = 0.0
  c.train.hybrid_feature_weight = 0.0
  # Warm start (warm_start.py): a training workdir or a release whose weights this new run starts
  # from; init_parts "weights" (fresh optimisers) or "all" (optimiser states too). "" = random init.
  c.train.init_from = ""
  c.train.init_parts = "weights"

  # What G and D are fed of the released vector (data/conditioning.py): "standardize" per dimension
  # by the training split's statistics (stored in the logits dataset, filled in at the start of
  # training and saved in config.json), scaled to unit expected norm; "unit_norm"; or "none" (the
  # paper: raw logits, whose norm of 9-21 degraded the images, results/conditioning/).
  c.conditioning = ml_collections.ConfigDict()
  c.conditioning.normalize = "standardize"
  c.conditioning.mean = ml_collections.FieldReference([], field_type=list)
  c.conditioning.std = ml_collections.FieldReference([], field_type=list)

  c.data = ml_collections.ConfigDict()
  c.data.dataset = ""  # a built logits dataset's folder, or its name under data_dir
  c.data.data_dir = ""
  # If both are set and the dataset is missing, training first builds it (make_logits) from
  # `source` (image folder / tarball, or tfds:NAME) through `classifier` into data_dir/…/dataset.
  c.data.source = ""
  c.data.classifier = ""
  c.data.train_split = "train"
  c.data.eval_split = "test"  # "" to show training images in the grids
  c.data.num_read_threads = 8
  c.data.prefetch = 4
  # Decode the training split into host memory once before training (data/pipeline.py): for splits
  # of a few GB at most, when decoding would cap the steps/s (a fast accelerator, a large batch).
  c.data.in_memory = False
  # Worker processes that read and decode the training split (grain_input.WorkerIterator), each
  # outside the trainer's interpreter lock, for splits too large for data.in_memory (ImageNet at
  # 128 px); the batches are the same as with read threads alone. 0 = the trainer's threads only.
  c.data.worker_count = 0

  # What the inverter sees of phi's output (data/release.py): full logits (the paper), softmax,
  # top-k logits, the top-1 label, or rounded probabilities.
  c.release = ml_collections.ConfigDict()
  c.release.kind = "full"
  c.release.k = 5  # for kind="topk"
  c.release.decimals = 2  # for kind="rounded"

  # method="deepsim" (Dosovitskiy & Brox 2016a): deterministic up-convolutional decoder trained on
  # pixel_weight * pixel L2 + feature_weight * comparator-feature L2 + adversarial_weight * hinge G loss.
  # Pixel and feature terms are means over elements of [-1, 1] images and of the comparator layer.
  c.deepsim = ml_collections.ConfigDict()
  c.deepsim.pixel_weight = 1.0
  c.deepsim.feature_weight = 0.1
  c.deepsim.adversarial_weight = 0.01
  c.deepsim.comparator = ""  # classifier dir; "" = the classifier that made the logits dataset
  c.deepsim.comparator_layer = ""  # Flax module path, e.g. "layer2"; "" = the penultimate features
  c.deepsim.hidden = 1024  # width of the decoder's fully connected layers

  # Evaluation (python -m biglogit.evaluate, and during training when eval.every > 0).
  c.eval = ml_collections.ConfigDict()
  c.eval.split = "test"
  c.eval.num_examples = 2000  # first N of the split (its order is the source's, not by class)
  c.eval.batch_size = 250
  c.eval.classifier = ""  # phi; "" = the classifier recorded in the logits dataset's metadata
  c.eval.identifier = ""  # an independent classifier for identifiability; "" = skip that metric
  c.eval.robust_features = ""  # classifier whose penultimate features give the feature distance
  c.eval.fid_extractor = ""  # "inception:DIR" | "classifier:DIR" (stand-in) | "" = skip FID/KID
  c.eval.noise_samples = 8  # K resampled eps per example for noise sensitivity
  c.eval.noise_examples = 200
  c.eval.bootstrap = 1000  # resamples for the 95% intervals of per-example metrics
  c.eval.fid_bootstrap = 20  # resamples for FID/KID intervals (each one recomputes the statistic)
  # Trivial baselines scored beside every evaluation (evaluate/trivial_inverters.py): comma-separated kinds of
  # constant, mean, class_mean, nearest_logits ("" = none), with the training split as reference.
  c.eval.baselines = "constant,mean,class_mean,nearest_logits"
  c.eval.nearest_distance = "cosine"  # nearest_logits: "cosine" or "l2"
  # class_mean: group training images by their "label" or by phi's "prediction" (argmax of their
  # logits; for data whose labels are not phi's classes, e.g. CIFAR-10 through an ImageNet classifier)
  c.eval.class_mean_by = "label"
  c.eval.baseline_reference_examples = 0  # first N training examples as reference (0: all)
  c.eval.every = 0  # steps between evaluations during training (0: off)
  c.eval.every_hours = 0.0  # or hours of training time between them (0: off), for curves in hours
  c.eval.at_end = False  # evaluate the final EMA generator into WORKDIR/eval/metrics.json

  c.log_every = 100
  c.checkpoint_every = 2000
  c.keep_checkpoints = 3
  c.image_every = 2000
  c.num_grid_images = 8
  return c


def classifier_base_config() -> ml_collections.ConfigDict:
  """Defaults for biglogit.classifiers.fit: SGD + Nesterov, cosine decay, crop/flip augmentation."""
  c = ml_collections.ConfigDict()
  c.kind = "classifier"
  c.seed = 0

  c.model = ml_collections.ConfigDict()
  c.model.arch = "cifar_resnet20"
  c.model.num_classes = 10
  c.model.module_kwargs = ml_collections.ConfigDict({"width": 16})

  c.data = ml_collections.ConfigDict()
  c.data.source = "../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz"  # or tfds:cifar10
  c.data.train_split = "train"
  c.data.eval_split = "test"
  c.data.limit = 0  # 0: every image of the split
  c.data.eval_limit = 0
  # The decoded split is held in memory and batched by the Grain pipeline both trainers share (grain_input.py).
  c.data.num_read_threads = 2
  c.data.prefetch = 4

  c.train = ml_collections.ConfigDict()
  c.train.global_batch = 128
  c.train.num_epochs = 100
  c.train.learning_rate = 0.1
  c.train.momentum = 0.9
  c.train.weight_decay = 5e-4
  c.train.crop_padding = 4

  c.data.holdout = 0  # N training images (a seeded random choice) kept out of training for the guard below

  c.adversarial = ml_collections.ConfigDict()
  c.adversarial.enabled = False
  c.adversarial.eps = 2 / 255  # L-inf on [0, 1] pixels
  # pgd: Madry et al. 2018, `steps` steps of `step_size` from a random start (steps + 1 passes per batch).
  # fgsm_rs: Wong, Rice & Kolter 2020, one step of fgsm_step * eps from a random start (2 passes).
  c.adversarial.method = "pgd"
  c.adversarial.step_size = 0.5 / 255
  c.adversarial.steps = 7
  c.adversarial.fgsm_step = 1.25
  # Catastrophic-overfitting guard (Wong et al. 2020): every guard_every steps, PGD accuracy on the
  # data.holdout held-out images; an adversarial run whose PGD accuracy falls below guard_drop x its
  # best (once the best is above chance-level 0.1) stops with one line. 0: off.
  c.adversarial.guard_every = 0
  c.adversarial.guard_drop = 0.5

  c.evaluation = ml_collections.ConfigDict()
  c.evaluation.pgd_eps = 2 / 255
  c.evaluation.pgd_step_size = 0.5 / 255
  c.evaluation.pgd_steps = 10
  c.evaluation.pgd_examples = 500

  c.log_every = 50
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  return c
