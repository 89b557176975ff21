"""`python -m evals ...` is `tutor eval ...`."""

from evals.cli import eval_group

eval_group(prog_name="python -m evals")
