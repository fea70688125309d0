"""Opt-in features that plug into the write plan (unique constraints, idempotency)."""
