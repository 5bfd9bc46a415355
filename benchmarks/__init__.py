"""Benchmarks of the generated repository's pull, deploy and generation at lab scale.

Run from the template root with `python3 dev.py bench` (or `python -m benchmarks`).
Each run generates a repository from the template, starts its emulator in a
separate process with synthetic environments, and measures our code side by side
with plain baselines (`unzip -q`, `zipfile`, a one-pass payload) on the same data.
Nothing here is imported by the template or the generated repository.
"""
