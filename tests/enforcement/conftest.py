"""Enforcement fixtures: FreeRADIUS as the NAS (see tests/nas_freeradius.py)."""
from tests.nas_freeradius import freeradius_nas, freeradius_nas_factory  # noqa: F401  (pytest fixtures)
