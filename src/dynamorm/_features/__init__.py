"""Opt-in features (unique constraints, idempotency, audit trail, cost tracking): each plugs into
the write plan or the capacity accounting and is imported only when used."""
