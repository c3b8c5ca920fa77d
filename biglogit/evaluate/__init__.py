"""Evaluation of trained inverters: metrics with bootstrap intervals (python -m biglogit.evaluate)."""
