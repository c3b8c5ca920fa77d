"""Moved to biglogit/perf/profile_step.py; `python -m biglogit.profile_step` forwards there (remove after the next release)."""
if __name__ == "__main__":
  from biglogit import cli
  cli.forward_moved("biglogit.profile_step", "biglogit.perf.profile_step")
