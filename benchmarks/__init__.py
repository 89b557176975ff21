"""Benchmarks that print figures (ratios against a baseline measured in the same run).

Run all with `make bench` (python -m benchmarks) or one with `python -m benchmarks.<name>`.
"""
