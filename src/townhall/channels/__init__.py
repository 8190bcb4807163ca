"""Channels: connectors that turn platform payloads into the interchange format and send replies."""
