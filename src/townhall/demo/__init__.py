"""The demo organisation: a seeded airline with departments, an agency, users and conversations."""
