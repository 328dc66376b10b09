"""Helpers shared by every family: validation, randomness, serialization, devices."""
