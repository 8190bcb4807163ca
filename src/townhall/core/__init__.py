"""Shared building blocks: time, ids, errors and permissions used by every domain."""
