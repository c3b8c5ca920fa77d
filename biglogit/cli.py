"""The one command-line convention of every `python -m biglogit...` command.

Bad input is one line on stderr, `error: ...`, and exit status 2, before any work starts: a
BiglogitError (say what to change), a flag error (a missing required flag, a value the flag refuses,
an unknown --config.key), and a --config file that is missing or whose get_config() raises. An
unexpected exception keeps its traceback. `run(main)` replaces absl's `app.run(main)`, whose flag
errors are two lines and exit 1.
"""
import atexit
import os
import sys
import threading

from absl import app, flags, logging
from ml_collections import config_flags

from biglogit import exit_on_error
from biglogit import files




def fail(message: str):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def env_int(name: str, low: int, high: int, default=None):
  """An integer environment variable, or one line naming it and what it takes (at import: before any
  work)."""
  text = os.environ.get(name, "").strip()
  if not text:
    return default
  try:
    value = int(text)
  except ValueError:
    value = None
  if value is None or not low <= value <= high:
    fail(f"environment variable {name}={text!r}; use an integer from {low} to {high}, or unset it")
  return value


def _last_line(e: Exception) -> str:
  return [line.strip() for line in str(e).splitlines() if line.strip()][-1]


def parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except SyntaxError as e:  # a --config file that is not Python
    fail(f"the config file {e.filename} is not valid Python (line {e.lineno}: {e.msg}); fix the file given "
         "to --config")
  except (ImportError, NameError) as e:  # a --config file whose module-level code fails on loading
    fail(f"the config file could not be loaded ({type(e).__name__}: {e}); fix the file given to --config")
  except AttributeError as e:  # ml_collections: --config.x=value names a key the config lacks
    msg = str(e).encode().decode("unicode_escape").replace("\n", " ").strip()
    key = msg.strip("\"' \\").split("'")[0]
    hint = msg.split("Did you mean", 1)
    hint = f" (did you mean{hint[1].rstrip(chr(39)).rstrip()})" if len(hint) > 1 else ""
    fail(f"unknown config key '{key}' in a --config.x=value override{hint}; use a key that the config "
         "file defines")
  except (flags.Error, KeyError, TypeError, ValueError) as e:
    if "Error whilst parsing config file" in str(e):  # the config file's get_config() raised
      fail(f"the config file's get_config() failed ({_last_line(e)}); fix the file given to --config")
    if isinstance(e, flags.Error):  # absl's own words name the flag and what it accepts
      fail(" ".join(line.strip() for line in str(e).splitlines()) + "; see --helpfull for the flags")
    msg = str(e).encode().decode("unicode_escape").replace("\n", " ").strip()
    fail(f"bad --config.x=value override ({type(e).__name__}: {msg}); check the key names in the config "
         "file and the values")


def check_config_file(sections, flag: str = "config", example: str = "configs/tiny.py"):
  """ml_collections loads a --config file lazily and reports a missing one as a multi-line traceback
  at first use; say it in one line before anything starts, and check the config has `sections`."""
  path = config_flags.get_config_filename(flags.FLAGS[flag])
  try:
    missing = [name for name in sections if name not in flags.FLAGS[flag].value]
  except OSError as e:
    fail(f"--{flag}={path} cannot be loaded ({_last_line(e)}); pass a config file such as {example}")
  if missing:
    fail(f"--{flag}={path} has no {missing[0]!r} section; start from a config such as {example}")


class QuietLibraries(logging.logging.Filter):
  """INFO lines are biglogit's own (progress, where things are written); the libraries' INFO chatter
  (Orbax logs every file it renames, JAX every backend it probes) is dropped, their warnings kept,
  except the known notices below that no user of biglogit can act on."""
  _OWN = os.path.dirname(os.path.abspath(__file__))
  # TFDS suggests OpenCV (biglogit decodes with PIL on purpose) and announces every dataset of our own
  # builder's config; Orbax announces that it registers jax.Array's handler. None is for the user.
  NOTICES = ("OpenCV is not installed", "Using custom data configuration", "Type handler registry type")

  def filter(self, record):
    if any(n in str(record.msg) for n in self.NOTICES):
      return False
    # A library's traceback of a full disk (Orbax logs its writer thread's failure): the one-line error
    # that biglogit raises for it says what is intact and what to do.
    if record.exc_info and record.exc_info[1] is not None and files.disk_full(record.exc_info[1]):
      return False
    # (absl.logging.WARNING is an absl verbosity, -1; records carry the standard library levels)
    return record.levelno >= logging.logging.WARNING or record.pathname.startswith(self._OWN)


class DropClosedLoopTracebacks:
  """sys.stderr, less one third-party traceback that follows a failed checkpoint write.

  Orbax runs a save's writes in a fresh asyncio loop and closes it as soon as one write fails (a full
  disk); TensorStore's C++ threads then report each write still in flight to that closed loop and
  print the resulting 'RuntimeError: Event loop is closed' traceback to sys.stderr themselves (not
  through sys.excepthook), under the one-line error that already says what failed and what is intact.
  Only a traceback whose every frame is in asyncio's base_events.py and whose last line is that error
  is dropped; any other text, tracebacks included, passes through unchanged.

  Several of those threads print at once, a line (or part of one) at a time, so their tracebacks
  interleave on the stream; each thread's text is therefore read on its own (a traceback is printed
  by one thread), never the stream's mixture."""

  def __init__(self, stream):
    self._stream = stream
    self._lock = threading.RLock()
    self._texts = {}  # thread ident -> _ThreadText: what that thread wrote and was not yet passed on

  def write(self, text: str) -> int:
    with self._lock:
      thread = threading.get_ident()
      if thread not in self._texts:
        self._texts[thread] = _ThreadText(self._stream.write)
      self._texts[thread].write(text)
    return len(text)

  def flush(self):
    # Only the calling thread's text: the logging handler flushes after every record, which must not
    # push out another thread's traceback half-way through its printing.
    with self._lock:
      if threading.get_ident() in self._texts:
        self._texts[threading.get_ident()].flush()
      self._stream.flush()

  def flush_all(self):
    """At exit: every thread's held text, an unfinished traceback shown as it is rather than lost."""
    with self._lock:
      for text in self._texts.values():
        text.flush()
      self._stream.flush()

  def __getattr__(self, name):  # isatty, fileno, encoding...: the stream's own
    return getattr(self._stream, name)


class _ThreadText:
  """One thread's stderr text, passed on except for the closed-loop tracebacks in it."""
  _HEADER = "Traceback (most recent call last):"
  _ERROR = "RuntimeError: Event loop is closed"

  def __init__(self, send):
    self._send = send
    self._unsent = ""  # text from a line that starts (or may start) a traceback, until it ends
    self._at_line_start = True

  def write(self, text: str):
    self._unsent += text
    while self._unsent:
      start = self._traceback_start()
      if start is None:  # nothing that is or may become a traceback
        self._pass(self._unsent)
        self._unsent = ""
        break
      self._pass(self._unsent[:start])
      self._unsent = self._unsent[start:]
      lines = self._unsent.split("\n")
      # a traceback ends at its first finished line after the header that is not indented (a frame)
      end = next((i for i, line in enumerate(lines[1:-1], 1) if not line.startswith(" ")), None)
      if not self._unsent.startswith(self._HEADER) or end is None:
        break  # wait for the rest
      block = "\n".join(lines[:end + 1]) + "\n"
      self._unsent = self._unsent[len(block):]
      if not self._is_closed_loop_traceback(block):
        self._pass(block)

  def _traceback_start(self):
    """Where the first line in the unsent text that is, or may still become, the header begins."""
    line_start = 0 if self._at_line_start else self._unsent.find("\n") + 1 or None
    while line_start is not None:
      rest = self._unsent[line_start:line_start + len(self._HEADER)]
      if rest == self._HEADER or (self._HEADER.startswith(rest) and "\n" not in rest):
        return line_start
      line_start = self._unsent.find("\n", line_start) + 1 or None
    return None

  def _is_closed_loop_traceback(self, block: str) -> bool:
    lines = block.splitlines()
    files = [line for line in lines if line.startswith("  File ")]
    return lines[-1] == self._ERROR and bool(files) and all(
        f"asyncio{os.sep}base_events.py" in line for line in files)

  def _pass(self, text: str):
    if text:
      self._send(text)
      self._at_line_start = text.endswith("\n")

  def flush(self):
    self._pass(self._unsent)
    self._unsent = ""


def run(main):
  """app.run with one-line flag errors and quiet libraries; main's body goes through
  biglogit.exit_on_error."""
  def quiet_main(argv):
    logging.get_absl_handler().addFilter(QuietLibraries())
    sys.stderr = DropClosedLoopTracebacks(sys.stderr)
    atexit.register(sys.stderr.flush_all)
    result = exit_on_error(lambda: main(argv))
    # app.run exits with what main returns: a command's result (the experiments return theirs for
    # callers in Python) would be printed and exit 1; only an int is an exit status
    return result if isinstance(result, int) else None
  app.run(quiet_main, flags_parser=parse_flags)
