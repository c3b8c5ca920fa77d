"""Report tools: the results page (`python -m biglogit.report`, page.py) and learning curves
(`python -m biglogit.report.learning_curve`). They read what evaluation and training wrote; nothing
upstream imports them."""
