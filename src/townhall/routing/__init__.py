"""Routing: ownership policy, rules, queues, assignment and SLA."""
