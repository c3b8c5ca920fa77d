"""biglogit: invert a frozen classifier's logits back to the image (Teterwak et al., ICML 2021)."""

__version__ = "0.1.0"


class BiglogitError(ValueError):
  """A user-facing error: one line that says what to change. `main` prints it without a traceback."""
