"""Ownership audit and staffing advisor."""
