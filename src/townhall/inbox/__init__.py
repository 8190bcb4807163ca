"""The shared inbox: queues, conversation workflow, notes and replies."""
