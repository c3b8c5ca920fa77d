"""Moved to biglogit/perf/conv_benchmark.py; `python -m biglogit.conv_benchmark` forwards there (remove after the next release)."""
if __name__ == "__main__":
  from biglogit import cli
  cli.forward_moved("biglogit.conv_benchmark", "biglogit.perf.conv_benchmark")
