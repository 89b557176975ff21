"""evals: measure the tutor. One command scores faithfulness, citations, retrieval, correctness and
refusals over a question set and writes JSON, Markdown and HTML reports (`tutor eval run`);
`tutor eval judge` validates the faithfulness scorer on human-labelled judgements; `tutor eval
compare` shows what changed between two reports.

Layout: data.py (the two dataset shapes) → metrics/<metric>/ (one folder per metric, named steps)
→ runner.py (asks every question, scores it) → report/ (JSON, Markdown, HTML, compare) → cli.py.
"""

EVALS_VERSION = "1"  # bump when a metric's definition changes: reports of different versions do not compare
