"""The unified customer record: one contact across channels and handles."""
