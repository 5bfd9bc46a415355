"""Local.

Everything that changes or reads this machine beyond one file: applying a snapshot
to a folder with its journal, git, GitHub, the deploy record.
"""
