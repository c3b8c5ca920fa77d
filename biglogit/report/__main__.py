"""python -m biglogit.report RUN [RUN ...] --out=DIR: the results page (page.py)."""
from biglogit.report import page

page.run()
