"""Helpers for the session-store tests: deterministic token records and a subprocess writer."""
