"""The paper's hinge losses, written exactly as the equations (not as the usual relu form)."""
import jax.numpy as jnp


def discriminator_loss(d_real, d_fake):
  """L_D = E[max(-1, D(G(z, eps), z)) - min(1, D(x, z))]."""
  return jnp.mean(jnp.maximum(-1.0, d_fake) - jnp.minimum(1.0, d_real))


def mismatch_loss(d_mismatch):
  """E[max(-1, D(x, z'))]: a real image x shown with another example's logits z' is judged like a
  fake. The matching-aware discriminator of Reed et al. 2016 (GAN-CLS), not part of the paper's loss."""
  return jnp.mean(jnp.maximum(-1.0, d_mismatch))


def generator_loss(d_fake):
  """L_G = -E[D(G(z, eps), z)]."""
  return -jnp.mean(d_fake)
