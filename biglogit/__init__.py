"""biglogit: invert a frozen classifier's logits back to the image (Teterwak et al., ICML 2021)."""

__version__ = "0.1.0"


class BiglogitError(ValueError):
  """A user-facing error: one line that says what to change. `main` prints it without a traceback."""


def exit_on_error(fn):
  """Run a command-line entry point's body; a BiglogitError becomes one line on stderr, exit status 2."""
  import sys
  try:
    return fn()
  except BiglogitError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
