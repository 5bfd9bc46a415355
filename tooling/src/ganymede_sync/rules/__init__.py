"""Rules.

Names, paths and hashes: which folder and node file names are valid, which files of a
folder the tooling manages, sha256 and git blob ids. Nothing here reads beyond the
bytes or the folder it is handed, and nothing imports another layer but ``errors``.
"""
