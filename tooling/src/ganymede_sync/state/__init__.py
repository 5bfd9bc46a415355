"""State the tooling keeps beside the code.

The manifest of the last pull, which Ganymede target a folder is bound to, and
scratch space for half-done work.
"""
