"""Inbound integrations with financial systems."""
