"""Opt-in features (unique constraints, idempotency, audit trail, cost tracking, field
encryption): each plugs into the write plan, the codec or the capacity accounting and is
imported only when used."""
