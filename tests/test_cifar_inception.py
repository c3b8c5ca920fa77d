"""The small Inception of Zhang et al. 2017 for the ResNet-vs-Inception comparison: its published size at
width 1, the ResNet-20's size at width 0.4, multi-branch blocks, and a classifier the trainer can fit."""
import jax
import jax.numpy as jnp
import numpy as np

from biglogit import classifiers


def _params_and_flops(arch, **kwargs):
  model = classifiers.build(arch, **kwargs)
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))
  cost = jax.jit(lambda v, x: model.apply(v, x, train=False)).lower(
      variables, jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return sum(x.size for x in jax.tree.leaves(variables["params"])), cost["flops"]


def test_sizes_pinned_and_width_0_4_matches_the_resnet20():
  inception, _ = _params_and_flops("cifar_inception")
  small, small_flops = _params_and_flops("cifar_inception", width=0.4)
  resnet, resnet_flops = _params_and_flops("cifar_resnet20")
  assert inception == 1_651_114  # Zhang et al. 2017: about 1.65M
  assert small == 264_926 and resnet == 269_722
  assert abs(small / resnet - 1) < 0.02 and abs(small_flops / resnet_flops - 1) < 0.1  # 80.6 vs 75.8 MFLOPs
  from configs import classifier_cifar10
  for member in ("standard", "robust"):  # the pair's config builds exactly this network
    config = classifier_cifar10.get_config(f"inception,{member}")
    assert config.model.arch == "cifar_inception" and dict(config.model.module_kwargs) == {"width": 0.4}


def test_blocks_concatenate_their_branches_and_halve_at_downsampling():
  model = classifiers.build("cifar_inception", width=0.4)
  x = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)), jnp.float32)
  variables = model.init(jax.random.key(0), x, train=False)
  _, state = model.apply(variables, x, train=False, capture_intermediates=True, mutable=["intermediates"])
  shapes = {k: v["__call__"][0].shape for k, v in state["intermediates"].items() if k != "__call__"}
  assert shapes["inception0"][1:] == (32, 32, 13 + 13)  # 0.4 x (32 + 32)
  assert shapes["downsample2"][1:] == (16, 16, 32 + shapes["inception1"][-1])  # conv branch beside the pool
  assert shapes["downsample7"][1:3] == (8, 8)
  logits, features = model.apply(variables, x, train=False), model.apply(variables, x, train=False, features=True)
  assert logits.shape == (2, 10) and features.shape == (2, shapes["inception9"][-1])
  updated = model.apply(variables, x, train=True, mutable=["batch_stats"])[1]["batch_stats"]
  assert any(np.abs(np.asarray(a) - np.asarray(b)).max() > 0
             for a, b in zip(jax.tree.leaves(updated), jax.tree.leaves(variables["batch_stats"])))
