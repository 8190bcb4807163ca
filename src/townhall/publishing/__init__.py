"""Publishing: drafts, calendar and approvals for outbound posts."""
