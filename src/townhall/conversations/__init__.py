"""Conversations and messages: the threads inbound and outbound items belong to, and ingest."""
