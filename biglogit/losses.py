"""The paper's hinge losses, written exactly as the equations (not as the usual relu form)."""
import jax.numpy as jnp


def discriminator_loss(d_real, d_fake):
  """L_D = E[max(-1, D(G(z, eps), z)) - min(1, D(x, z))]."""
  return jnp.mean(jnp.maximum(-1.0, d_fake) - jnp.minimum(1.0, d_real))


def generator_loss(d_fake):
  """L_G = -E[D(G(z, eps), z)]."""
  return -jnp.mean(d_fake)
