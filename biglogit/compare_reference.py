"""Moved to biglogit/perf/compare_reference.py; `python -m biglogit.compare_reference` forwards there (remove after the next release)."""
if __name__ == "__main__":
  from biglogit import cli
  cli.forward_moved("biglogit.compare_reference", "biglogit.perf.compare_reference")
