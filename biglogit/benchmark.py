"""Moved to biglogit/perf/benchmark.py; `python -m biglogit.benchmark` forwards there (remove after the next release)."""
if __name__ == "__main__":
  from biglogit import cli
  cli.forward_moved("biglogit.benchmark", "biglogit.perf.benchmark")
