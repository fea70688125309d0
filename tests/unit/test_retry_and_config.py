"""Retry policy, credentials resolution and DB configuration errors."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from dynamorm import (
    DB,
    BotocoreChainProvider,
    ConfigurationError,
    Credentials,
    EnvironmentProvider,
    RetryPolicy,
    StaticProvider,
)
from dynamorm._io.credentials import resolve_credentials


def test_full_jitter_bounds_and_cap() -> None:
    policy = RetryPolicy(10, base_delay=0.1, max_delay=1.0, rng=random.Random(3))
    for retry in range(12):
        for _ in range(50):
            assert 0 <= policy.backoff(retry) <= min(1.0, 0.1 * 2**retry)


def test_delay_stops_at_max_attempts_and_deadline() -> None:
    policy = RetryPolicy(3, base_delay=1.0, max_delay=1.0, rng=random.Random(1))
    assert policy.delay(1) is not None
    assert policy.delay(3) is None
    assert policy.delay(1, remaining=0.0) is None
    assert RetryPolicy(1).delay(1) is None


@pytest.mark.parametrize(
    "kw",
    [
        {"max_attempts": 0},
        {"max_attempts": True},
        {"base_delay": -1},
        {"base_delay": 3, "max_delay": 1},
    ],
)
def test_bad_retry_policy(kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kw)


def test_missing_region_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        DB(credentials=("a", "b"))


def test_region_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    db = DB(credentials=("a", "b"))
    assert db.region == "ap-southeast-2"
    assert db.client.endpoint.url == "https://dynamodb.ap-southeast-2.amazonaws.com"


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"region": "US East"}, "invalid region"),
        ({"region": "us-east-1", "table_prefix": "a b"}, "table_prefix"),
        ({"region": "us-east-1", "timeout": 0}, "timeout"),
        ({"region": "us-east-1", "timeout": (1, "x")}, "timeout"),
        ({"region": "us-east-1", "retry": 3}, "RetryPolicy"),
        ({"region": "us-east-1", "credentials": "secret"}, "credentials must be"),
        ({"region": "us-east-1", "credentials": ("", "x")}, "access key id"),
        ({"region": "us-east-1", "endpoint_url": "localhost:8000"}, "endpoint_url"),
    ],
)
def test_db_bad_configuration(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        DB(**kw)


def test_credentials_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "envtoken")
    provider = resolve_credentials(None)
    assert isinstance(provider, EnvironmentProvider)
    creds = provider.get()
    assert creds.session_token is not None
    assert (creds.access_key_id, creds.session_token.reveal()) == ("AKIAENV", "envtoken")
    assert isinstance(resolve_credentials(("a", "b", "c")), StaticProvider)
    static = StaticProvider(Credentials("a", "b"))
    assert resolve_credentials(static) is static
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    assert isinstance(resolve_credentials(None), BotocoreChainProvider)


def test_environment_provider_rereads_after_invalidate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "K1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "S1")
    provider = EnvironmentProvider()
    assert provider.get().access_key_id == "K1"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "K2")
    assert provider.get().access_key_id == "K1"
    provider.invalidate()
    assert provider.get().access_key_id == "K2"


def test_botocore_chain_reads_a_profile(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    creds_file = tmp_path / "credentials"
    creds_file.write_text(
        "[partner]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = psecret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds_file))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    creds = BotocoreChainProvider("partner").get()
    assert (creds.access_key_id, creds.secret_access_key.reveal()) == ("AKIAPROFILE", "psecret")


def test_credentials_expiry() -> None:
    assert Credentials("a", "b", expiration=time.time() + 10).expires_within(60)
    assert not Credentials("a", "b", expiration=time.time() + 600).expires_within(60)
    assert not Credentials("a", "b").expires_within(60)


def test_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert DB(region="us-east-1", credentials=("a", "b")).client.endpoint.port == 1
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2")
    assert DB(region="us-east-1", credentials=("a", "b")).client.endpoint.port == 2
    explicit = DB(region="us-east-1", endpoint_url="http://127.0.0.1:3", credentials=("a", "b"))
    assert explicit.client.endpoint.port == 3
