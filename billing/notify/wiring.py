"""Registers each channel provider with :mod:`billing.notify.providers`."""
from __future__ import annotations
