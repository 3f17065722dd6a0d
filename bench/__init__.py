"""Benchmarks (`make bench`): the platform against raw baselines measured in the same run.

Not tests: nothing here asserts a timing. `python -m bench.run` writes `var/bench/results.json`
and `BENCHMARKS.md`.
"""
