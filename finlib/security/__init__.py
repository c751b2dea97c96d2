"""Security helpers: file encryption commands, private file modes, secret hygiene."""
