"""Test support shared by every package: the real stack, unique ids, awaiting conditions."""

from .waiting import wait_for

__all__ = ["wait_for"]
