"""Observatoire territorial de la Martinique: the analytical side of the island's digital twin."""

__version__ = "0.1.0"
