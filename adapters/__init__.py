"""Adapters: the reference and the frameworks behind one protocol (adapters/base.py)."""
