"""Governance: users, roles, the agency scope and the audit log."""
