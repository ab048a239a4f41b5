"""Lockstep: a versioned standard for portable, verifiable deep-learning training."""

__version__ = "0.1.0"
SPEC_VERSION = "lockstep/v1"
