"""Generator, discriminator and their building blocks."""
