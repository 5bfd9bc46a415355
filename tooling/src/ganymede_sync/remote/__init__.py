"""Remote.

Everything that talks to Ganymede (the HTTP client and its limits) and validates
what it answers (the snapshot archive and its fetch).
"""
