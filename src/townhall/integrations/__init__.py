"""Integrations: outgoing webhooks (domain events written in the change's transaction) and dead letters."""
