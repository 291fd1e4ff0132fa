"""Loomwork: one home for the configuration of AI agents."""

__version__ = "0.1.0"
