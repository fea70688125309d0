"""The region from the active profile, and FIPS / dual-stack endpoints resolved as botocore
resolves them (botocore's own endpoint rules are the oracle)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamorm import DB, ConfigurationError
from dynamorm._io.endpoints import aws_endpoint

_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config"
    path.write_text(
        "[default]\nregion = eu-west-1\n\n"
        "[profile gov]\nregion = us-gov-west-1\nuse_fips_endpoint = true\n\n"
        "[profile v6]\nregion = ap-southeast-2\nuse_dualstack_endpoint = true\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    return path


def test_the_region_comes_from_the_active_profile(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = DB(credentials=("a", "b"))
    assert (db.region, db.client.endpoint.url) == (
        "eu-west-1",
        "https://dynamodb.eu-west-1.amazonaws.com",
    )
    monkeypatch.setenv("AWS_PROFILE", "gov")
    db = DB(credentials=("a", "b"))
    assert db.client.endpoint.url == "https://dynamodb-fips.us-gov-west-1.amazonaws.com"
    monkeypatch.setenv("AWS_PROFILE", "v6")
    assert DB(credentials=("a", "b")).client.endpoint.url == (
        "https://dynamodb.ap-southeast-2.api.aws"
    )
    monkeypatch.setenv("AWS_REGION", "us-east-2")  # the environment wins over the profile
    assert DB(credentials=("a", "b")).region == "us-east-2"


def test_no_region_anywhere_says_where_to_set_one(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text("[default]\noutput = json\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"no region: .*~/.aws/config"):
        DB(credentials=("a", "b"))


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"])
@pytest.mark.parametrize(
    ("fips", "dual"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_endpoints_match_botocore(
    region: str, fips: bool, dual: bool, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.session
    from botocore.config import Config

    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", str(fips).lower())
    monkeypatch.setenv("AWS_USE_DUALSTACK_ENDPOINT", str(dual).lower())
    expected = (
        botocore.session.get_session()
        .create_client(
            "dynamodb",
            region_name=region,
            aws_access_key_id="a",
            aws_secret_access_key="b",
            config=Config(use_fips_endpoint=fips, use_dualstack_endpoint=dual),
        )
        .meta.endpoint_url
    )
    assert aws_endpoint(region) == expected
    assert DB(region=region, credentials=("a", "b")).client.endpoint.url == expected


def test_a_bad_flag_is_refused(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "maybe")
    with pytest.raises(ConfigurationError, match="AWS_USE_FIPS_ENDPOINT must be true or false"):
        DB(region="us-east-1", credentials=("a", "b"))


def test_an_explicit_endpoint_wins_over_the_flags(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    db = DB(region="us-east-1", endpoint_url="http://127.0.0.1:8000", credentials=("a", "b"))
    assert db.client.endpoint.url == "http://127.0.0.1:8000"
