"""Helpers for testing code that uses this provider (synthetic media; the emulator lives in ``emulator``)."""
