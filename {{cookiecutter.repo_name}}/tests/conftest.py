"""Fixtures for this repository's flow tests.

Put your own fixtures here; every test file in ``tests/`` can use them.
"""
