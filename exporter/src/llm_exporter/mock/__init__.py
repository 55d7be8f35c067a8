"""Mock mode: a seeded simulator of an LLM fleet whose calls go through the real recording path."""
