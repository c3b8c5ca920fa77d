"""Pure, jit-able training steps: D updates, one G update, EMA. No I/O here."""

import functools
from typing import Dict

import jax
import jax.numpy as jnp
import optax

from biglogit import augment, losses
from biglogit.data import conditioning
from biglogit.state import GANState


def images_to_float(images_uint8):
  """uint8 [0, 255] -> float32 [-1, 1], G's tanh range. Done on device to move 4x fewer bytes."""
  return images_uint8.astype(jnp.float32) / 127.5 - 1.0


def sample_eps(rng, batch, dim_z):
  return jax.random.normal(rng, (batch, dim_z), jnp.float32)


def train_step(state: GANState, batch, aux, *, generator, discriminator, g_tx, d_tx, config,
               comparator=None, phi=None):
  """num_d_steps discriminator updates (one sub-batch each), then one generator update.

  batch: {'image': uint8 [d_steps, B, H, W, 3], 'logits': float32 [d_steps, B, nc]}; the logits
  pass through the conditioning first (data/conditioning.py: the release transform, then the
  normalisation), so G and D only ever see what is released, normalised as configured.
  aux: frozen arrays the loss needs ({'comparator': variables} for the reconstruction terms,
  {'phi': variables} for train.consistency_weight > 0, else {}).
  comparator: (variables, images in [0, 1]) -> features; phi: (variables, images in [0, 1]) -> raw
  logits, the frozen classifier of the consistency loss.
  With train.grad_accum = k each update averages the gradients of k micro-batches of B/k
  (accumulate). Returns the new state and scalar metrics of this step.
  """
  t = config.train
  batch = {**batch, "logits": conditioning.apply(config, batch["logits"])}
  key = jax.random.wrap_key_data(state.rng)
  rng, *step_rngs = jax.random.split(key, t.d_steps + 2)
  # D's input augmentation (augment.py), drawn from its own branch of the key so that runs without
  # it keep their exact random streams.
  aug_rngs = jax.random.split(jax.random.fold_in(key, 1), t.d_steps + 1)
  g_params, g_stats, d_params, d_stats = state.g_params, state.g_stats, state.d_params, state.d_stats
  d_opt, g_opt = state.d_opt, state.g_opt

  def inputs(i):
    real = images_to_float(batch["image"][i])
    return {"real": real, "logits": batch["logits"][i],
            "eps": sample_eps(step_rngs[i], real.shape[0], config.model.dim_z)}

  # ---- D updates: G frozen (its batch-norm statistics still advance as it draws the fakes)
  for i in range(t.d_steps):
    d_objective = functools.partial(discriminator_objective, generator=generator, discriminator=discriminator,
                                    g_params=g_params, config=config)
    (d_loss, ((d_stats, g_stats), d_metrics)), grads = accumulate(
        d_objective, d_params, (d_stats, g_stats), inputs(i), aug_rngs[i], t.grad_accum)
    updates, d_opt = d_tx.update(grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, updates)

  # ---- G update: D frozen (its spectral-norm vectors are not advanced here)
  g_objective = functools.partial(generator_objective, generator=generator, discriminator=discriminator,
                                  d_variables={"params": d_params, "batch_stats": d_stats}, config=config,
                                  comparator=comparator, phi=phi, aux=aux)
  (g_loss, (g_stats, g_terms)), grads = accumulate(g_objective, g_params, g_stats, inputs(-1), aug_rngs[-1],
                                                   t.grad_accum)
  updates, g_opt = g_tx.update(grads, g_opt, g_params)
  g_params = optax.apply_updates(g_params, updates)

  ema_params = ema_update(state.ema_params, g_params, state.step, t.ema_start, t.ema_decay)
  new_state = state.replace(step=state.step + 1, g_params=g_params, g_stats=g_stats,
                            d_params=d_params, d_stats=d_stats, g_opt=g_opt, d_opt=d_opt,
                            ema_params=ema_params, rng=jax.random.key_data(rng))
  return new_state, {"d_loss": d_loss, "g_loss": g_loss, **d_metrics, **g_terms}


def micro_batches(array, k: int):
  """[B, ...] -> [k, B/k, ...], micro-batch j holding rows j, j + k, j + 2k, ...: a device that holds
  a contiguous block of B/n rows (n devices, B/n divisible by k) holds B/(n k) rows of every
  micro-batch, so splitting moves no data between devices."""
  return jnp.swapaxes(array.reshape(array.shape[0] // k, k, *array.shape[1:]), 0, 1)


def accumulate(objective, params, stats, inputs, rng, k: int):
  """jax.value_and_grad(objective, has_aux=True)(params, stats, inputs, rng), where objective returns
  (loss, (new stats, metrics)); with k > 1 the loss, gradients and metrics are the means over k
  micro-batches of `inputs` (micro_batches), run one after another (a scan: one micro-batch's
  activations live at a time) with the statistics threaded through them in order, so batch norm
  normalises each micro-batch by its own statistics, as BigGAN-PyTorch's accumulation does
  (docs/scaling.md#gradient-accumulation). Each micro-batch draws its augmentation from rng's j-th split."""
  value_and_grad = jax.value_and_grad(objective, has_aux=True)
  if k == 1:
    return value_and_grad(params, stats, inputs, rng)

  def one_micro_batch(carry, micro):
    stats, grad_sum = carry
    (loss, (stats, metrics)), grads = value_and_grad(params, stats, micro["inputs"], micro["rng"])
    return (stats, jax.tree.map(jnp.add, grad_sum, grads)), (loss, metrics)

  micro = {"inputs": jax.tree.map(lambda a: micro_batches(a, k), inputs), "rng": jax.random.split(rng, k)}
  (stats, grad_sum), (losses_k, metrics_k) = jax.lax.scan(
      one_micro_batch, (stats, jax.tree.map(jnp.zeros_like, params)), micro)
  mean = lambda x: jnp.mean(x, axis=0)
  return (mean(losses_k), (stats, jax.tree.map(mean, metrics_k))), jax.tree.map(lambda g: g / k, grad_sum)


def generate(generator, g_params, g_stats, logits, eps):
  """G(z, eps) in training mode, and G's advanced batch-norm statistics."""
  fake, new_vars = generator.apply({"params": g_params, "batch_stats": g_stats}, logits, eps,
                                   train=True, mutable=["batch_stats"])
  return fake, new_vars.get("batch_stats", {})


def discriminator_objective(d_params, stats, inputs, rng, *, generator, discriminator, g_params, config):
  """L_D of one (micro-)batch against G's fakes (no gradient into G). stats: (D's, G's) batch_stats.
  Returns (L_D, ((D's, G's) new statistics, metrics))."""
  d_stats, g_stats = stats
  fake, g_stats = generate(generator, g_params, g_stats, inputs["logits"], inputs["eps"])
  policy = augment.parse_policy(config.train.diff_augment)
  loss, (d_stats, d_real, d_fake, terms) = discriminator_pass(
      discriminator, d_params, d_stats, inputs["real"], jax.lax.stop_gradient(fake), inputs["logits"],
      mismatch_weight=config.train.mismatch_weight,
      d_view=lambda images: augment.diff_augment(rng, images, policy))
  return loss, ((d_stats, g_stats), {"d_real": d_real, "d_fake": d_fake, **terms})


def generator_weights(config) -> Dict[str, float]:
  """The generator objective's terms and weights. The GAN (the paper): the adversarial term alone;
  DeePSiM (Dosovitskiy & Brox 2016a): pixel, feature and a small adversarial term; the hybrid: the
  GAN's with DeePSiM's pixel and feature terms added; either with the logit-consistency term. A term
  of weight 0 is not computed."""
  t = config.train
  if config.method == "deepsim":
    w = config.deepsim
    weights = {"pixel": w.pixel_weight, "feature": w.feature_weight, "adversarial": w.adversarial_weight}
  else:
    weights = {"adversarial": 1.0, "pixel": t.hybrid_pixel_weight, "feature": t.hybrid_feature_weight}
  return {**weights, "consistency": t.consistency_weight}


def generator_objective(g_params, g_stats, inputs, rng, *, generator, discriminator, d_variables, config,
                        comparator, phi, aux):
  """L_G of one (micro-)batch: sum of generator_weights' terms of G(z, eps) (D frozen). Returns
  (L_G, (G's new statistics, each term's value where there is more than one term))."""
  fake, g_stats = generate(generator, g_params, g_stats, inputs["logits"], inputs["eps"])
  weights = {name: w for name, w in generator_weights(config).items() if w > 0}
  policy = augment.parse_policy(config.train.diff_augment)
  terms = {"adversarial": losses.generator_loss(discriminator.apply(
      d_variables, augment.diff_augment(rng, fake, policy), inputs["logits"], train=False))}
  if "consistency" in weights:
    # ||n(phi(G(z, eps))) - n(z)||^2 through the frozen phi (its variables are aux, not differentiated)
    conditioned_hat = conditioning.apply(config, phi(aux["phi"], (fake + 1.0) / 2.0))
    terms["consistency"] = jnp.mean(jnp.sum(jnp.square(conditioned_hat - inputs["logits"]), axis=-1))
  if "pixel" in weights or "feature" in weights:
    terms["pixel"], terms["feature"] = reconstruction_terms(fake, inputs["real"], comparator, aux["comparator"])
  total = sum(w * terms[name] for name, w in weights.items())
  reported = {f"{name}_loss": terms[name] for name in weights} if len(weights) > 1 else {}
  return total, (g_stats, reported)


def uses_hybrid_loss(config) -> bool:
  t = config.train
  return config.method == "gan" and (t.hybrid_pixel_weight > 0 or t.hybrid_feature_weight > 0)


def reconstruction_terms(fake, real, comparator, comparator_variables):
  """DeePSiM's pixel and feature losses (Dosovitskiy & Brox 2016a) of images in [-1, 1]: mean squared
  error in pixels and in the frozen comparator's features (of images in [0, 1]; no gradient into the
  real image's features)."""
  pixel = jnp.mean(jnp.square(fake - real))
  to_unit = lambda x: (x + 1.0) / 2.0
  feature = jnp.mean(jnp.square(comparator(comparator_variables, to_unit(fake)) -
                                jax.lax.stop_gradient(comparator(comparator_variables, to_unit(real)))))
  return pixel, feature


def discriminator_pass(discriminator, d_params, d_stats, real, fake, logits, mismatch_weight=0.0,
                       d_view=lambda images: images):
  """L_D on one sub-batch, D's new batch_stats and the means of its outputs, in one D pass.

  mismatch_weight > 0 adds the matching-aware term: the same real images again, each with its
  neighbour's logits (the batch rolled by one), judged like fakes (losses.mismatch_loss).
  d_view: images -> what D sees of them (train.diff_augment), applied to the whole D batch."""
  images, image_logits = [real, fake], [logits, logits]
  if mismatch_weight > 0:
    images.append(real)
    image_logits.append(jnp.roll(logits, 1, axis=0))
  (realism, consistency), new_vars = discriminator.apply(
      {"params": d_params, "batch_stats": d_stats}, d_view(jnp.concatenate(images, axis=0)),
      jnp.concatenate(image_logits, axis=0), train=True, terms=True, mutable=["batch_stats"])
  out = realism + consistency
  outs = jnp.split(out, len(images))
  d_real, d_fake = outs[0], outs[1]
  loss = losses.discriminator_loss(d_real, d_fake)
  # D's two terms apart, as mean magnitudes: w1^T psi (realism) and (W2 z)^T psi (consistency with z).
  # If the second dwarfs the first, D judges the conditioning more than the image.
  n = real.shape[0]
  magnitude = lambda x, i: jax.lax.stop_gradient(jnp.mean(jnp.abs(x[i * n:(i + 1) * n])))
  terms = {"d_real_w1": magnitude(realism, 0), "d_real_w2z": magnitude(consistency, 0),
           "d_fake_w1": magnitude(realism, 1), "d_fake_w2z": magnitude(consistency, 1)}
  if mismatch_weight > 0:
    loss = loss + mismatch_weight * losses.mismatch_loss(outs[2])
    terms["d_mismatch"] = jnp.mean(outs[2])
  return loss, (new_vars["batch_stats"], jnp.mean(d_real), jnp.mean(d_fake), terms)


def ema_update(ema_params, g_params, step, ema_start: int, ema_decay: float):
  """The EMA of G after this step, on device (optax's Polyak average). Before `ema_start` it simply
  copies G (BigGAN's schedule): an average over G's first, untrained steps would drag on for about
  1 / (1 - decay) steps."""
  decay = jnp.where(step >= ema_start, ema_decay, 0.0)
  return optax.incremental_update(g_params, ema_params, 1.0 - decay)


def reconstruct(params, g_stats, logits, eps, *, generator, config, conditioned: bool = False):
  """x_hat = G(n(release(z)), eps) in evaluation mode (running BN statistics), in [-1, 1]. `logits`
  are phi's raw logits; the conditioning the inverter was trained with (config's release and
  normalisation) is applied here. conditioned=True: `logits` are already what G sees."""
  cond = logits if conditioned else conditioning.apply(config, logits)
  return generator.apply({"params": params, "batch_stats": g_stats}, cond, eps, train=False)


def standing_stats(params, g_stats, logits, eps, *, generator, config):
  """G's batch-norm running statistics (and spectral-norm vectors) after one training-mode pass of
  `params` over a batch of raw logits: run over enough batches, the statistics of the EMA weights.
  Why: training keeps only the live G's statistics, and the EMA weights lag G (by about
  1/(1 - ema_decay) steps: 10,000 at the gpu scale's 0.9999); early in a run their activations'
  scale differs from the live G's, and evaluation-mode images saturate (results/gpu/README.md)."""
  _, new = generator.apply({"params": params, "batch_stats": g_stats}, conditioning.apply(config, logits),
                           eps, train=True, mutable=["batch_stats"])
  return new["batch_stats"]
