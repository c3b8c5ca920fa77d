"""biglogit: invert a frozen classifier's logits back to the image (Teterwak et al., ICML 2021)."""

__version__ = "0.1.0"


class BiglogitError(ValueError):
  """A user-facing error: one line that says what to change. `main` prints it without a traceback."""


def exit_on_error(fn):
  """The one error path of every command: run its body; a BiglogitError becomes one line on stderr
  (and in the absl log, which pod hosts keep) and exit status 2; anything else keeps its traceback."""
  import sys
  try:
    return fn()
  except KeyboardInterrupt:  # Ctrl-C outside the training loop (which checkpoints on its first one)
    print("error: interrupted (Ctrl-C); what was complete is kept (every write is atomic): run the "
          "command again to resume or redo the rest", file=sys.stderr)
    sys.exit(130)
  except BiglogitError as e:
    from absl import logging
    stream = getattr(logging.get_absl_handler().python_handler, "stream", sys.stderr)
    if stream not in (sys.stderr, sys.__stderr__):  # absl logs to a file (--log_dir): record it there too
      logging.error("%s", e)
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
