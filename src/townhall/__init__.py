"""Townhall: one place where an organisation runs its social media together."""

__version__ = "0.1.0"
