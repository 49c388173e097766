"""Readers: one module per external format or system, each returning canonical readings."""
