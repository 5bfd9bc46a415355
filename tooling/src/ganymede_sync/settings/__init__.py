"""Settings.

Ganymede.toml and the environment variables read into one checked ``Settings``, and
the pinned release a repository asks for.
"""
