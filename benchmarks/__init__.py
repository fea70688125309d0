"""Benchmarks of dynamorm against boto3: ``python -m benchmarks`` (see docs/benchmarks.md)."""
