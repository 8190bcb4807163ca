"""The knowledge base: answers to routine questions, suggested to agents and sent automatically."""
