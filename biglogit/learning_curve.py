"""Moved to biglogit/report/learning_curve.py; `python -m biglogit.learning_curve` forwards there (remove after the next release)."""
if __name__ == "__main__":
  from biglogit import cli
  cli.forward_moved("biglogit.learning_curve", "biglogit.report.learning_curve")
