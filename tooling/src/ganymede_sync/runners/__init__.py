"""Runners.

One per task, doing its work and returning a result from ``ganymede_sync.results``;
the session every task begins with.
"""
