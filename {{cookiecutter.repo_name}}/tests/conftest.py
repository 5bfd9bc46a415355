"""Fixtures for this repository's flow tests; add your own here.

``node`` loads a node's ``function.py`` as Ganymede runs it, and ``ganymede_context``
builds the context that ``execute`` receives, with your test data behind it: see
docs/testing.md.
"""

pytest_plugins = ["ganymede_sync.testing.plugin"]
