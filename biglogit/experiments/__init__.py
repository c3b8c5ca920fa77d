"""One module per experiment: python -m biglogit.experiments.<name> --workdir=RUN ... writes PNG figures + JSON."""
