"""The one command-line convention of every `python -m biglogit...` command.

Bad input is one line on stderr, `error: ...`, and exit status 2, before any work starts: a
BiglogitError (say what to change), a flag error (a missing required flag, a value the flag refuses,
an unknown --config.key), and a --config file that is missing or whose get_config() raises. An
unexpected exception keeps its traceback. `run(main)` replaces absl's `app.run(main)`, whose flag
errors are two lines and exit 1.
"""
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from biglogit import exit_on_error
from biglogit import files


def fail(message: str):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def _last_line(e: Exception) -> str:
  return [line.strip() for line in str(e).splitlines() if line.strip()][-1]


def parse_flags(argv):
  try:
    return flags.FLAGS(argv)
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
  (Orbax logs every file it renames, JAX every backend it probes) is dropped, their warnings kept."""
  _OWN = os.path.dirname(os.path.abspath(__file__))

  def filter(self, record):
    # A library's traceback of a full disk (Orbax logs its writer thread's failure): the one-line error
    # that biglogit raises for it says what is intact and what to do.
    if record.exc_info and record.exc_info[1] is not None and files.disk_full(record.exc_info[1]):
      return False
    # (absl.logging.WARNING is an absl verbosity, -1; records carry the standard library levels)
    return record.levelno >= logging.logging.WARNING or record.pathname.startswith(self._OWN)


def run(main):
  """app.run with one-line flag errors and quiet libraries; main's body goes through
  biglogit.exit_on_error."""
  def quiet_main(argv):
    logging.get_absl_handler().addFilter(QuietLibraries())
    return exit_on_error(lambda: main(argv))
  app.run(quiet_main, flags_parser=parse_flags)


def forward_moved(old: str, new: str):
  """`python -m OLD` for a module that moved: one line saying where, then NEW runs as if called."""
  import runpy
  print(f"python -m {old} moved to python -m {new}; this path forwards to it for now", file=sys.stderr)
  sys.argv[0] = new
  runpy.run_module(new, run_name="__main__", alter_sys=True)
