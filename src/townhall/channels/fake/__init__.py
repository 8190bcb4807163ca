"""The fake connector: an in-memory platform for tests and the demo."""
