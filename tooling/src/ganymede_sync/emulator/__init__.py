"""A local Ganymede API for trying pulls and deploys offline and for end-to-end tests.

Run it with ``python -m ganymede_sync.emulator --help`` (or ``invoke emulator``), or from
Python with ``Emulator``. It is written from Ganymede's public contract and imports nothing
from the client side of ``ganymede_sync``, so a misunderstanding cannot hide in shared code.
"""

from __future__ import annotations

from ganymede_sync.emulator.emulator import Emulator, serve_until_signalled
from ganymede_sync.emulator.faults import KINDS as FAULT_KINDS
from ganymede_sync.emulator.server import RequestRecord
from ganymede_sync.emulator.store import Commit

__all__ = ["FAULT_KINDS", "Commit", "Emulator", "RequestRecord", "serve_until_signalled"]
