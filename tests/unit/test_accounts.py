"""MultiAccount and PartnerAccount configuration, the partner DB cache, and partner context."""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm import DB, ConfigurationError, Credentials, DeadlineExceeded
from dynamorm._core.errors import AssumeRoleFailed, UnknownPartner
from dynamorm._io.transport import Request, Response
from dynamorm._runtime.accounts import MultiAccount, PartnerAccount, PartnerDB
from dynamorm._runtime.context import (
    PartnerLogFilter,
    credentials_deadline,
    current_deadline,
    current_partner,
    mask_partner_id,
    partner_context,
)
from tests.unit.test_accounts_sts import EXPIRES_AT, EXTERNAL_ID, FakeSTS, sts_error, sts_ok

ROLE_A = "arn:aws:iam::111111111111:role/dynamorm-partner"
ROLE_B = "arn:aws:iam::222222222222:role/team/dynamorm-partner"
BASE_SECRET = "baseSecretKeyThatMustNeverLeak000000000"


def make_base(transport: Any, **kw: Any) -> DB:
    return DB(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        credentials=Credentials("AKIDBASE", BASE_SECRET),
        transport=transport,
        **kw,
    )


def make_accounts(transport: Any = None, **kw: Any) -> MultiAccount:
    partners = kw.pop(
        "partners",
        {
            "acme": PartnerAccount(ROLE_A, external_id=EXTERNAL_ID, table_prefix="acme_"),
            "globex": {"role_arn": ROLE_B, "region": "eu-west-1", "table_prefix": "globex_"},
        },
    )
    kw.setdefault("sts_endpoint_url", "http://127.0.0.1:2")
    return MultiAccount(make_base(transport or FakeSTS(sts_ok())), partners, **kw)


# --- PartnerAccount ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/name",
        "arn:aws-cn:iam::123456789012:role/name",
        "arn:aws-us-gov:iam::123456789012:role/path/to/name+=,.@-_",
    ],
)
def test_valid_role_arns(arn: str) -> None:
    assert PartnerAccount(arn).role_arn == arn


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::12345678901:role/short-account",
        "arn:aws:iam::1234567890123:role/long-account",
        "arn:aws:iam::123456789012:user/not-a-role",
        "arn:aws:sts::123456789012:role/wrong-service",
        "arn:aws-iso:iam::123456789012:role/other-partition",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/path/",
        "arn:aws:iam::123456789012:role/name with space",
        "",
    ],
)
def test_invalid_role_arns_are_named(arn: str) -> None:
    with pytest.raises(ConfigurationError, match=r"invalid role ARN .*<12-digit account>"):
        PartnerAccount(arn)


@pytest.mark.parametrize("duration", [900, 3600, 43200])
def test_session_duration_range(duration: int) -> None:
    assert PartnerAccount(ROLE_A, session_duration=duration).session_duration == duration


@pytest.mark.parametrize("duration", [899, 43201, 0, True, 3600.0, "3600"])
def test_session_duration_out_of_range(duration: Any) -> None:
    with pytest.raises(ConfigurationError, match="session_duration must be whole seconds from 900"):
        PartnerAccount(ROLE_A, session_duration=duration)


@pytest.mark.parametrize("external_id", ["Q", "has space in it", "a" * 1225, 12345])
def test_invalid_external_id_is_not_echoed(external_id: Any) -> None:
    with pytest.raises(ConfigurationError, match="invalid external_id") as info:
        PartnerAccount(ROLE_A, external_id=external_id)
    assert str(external_id) not in str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"region": "Europe"}, "invalid region 'Europe'"),
        ({"table_prefix": "bad prefix"}, "table_prefix may hold only"),
        ({"endpoint_url": "ftp://x"}, "endpoint_url must look like"),
    ],
)
def test_other_settings_are_validated(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PartnerAccount(ROLE_A, **options)


def test_partner_account_is_immutable_and_hides_the_external_id() -> None:
    account = PartnerAccount(ROLE_A, external_id=EXTERNAL_ID, table_prefix="a_")
    assert EXTERNAL_ID not in repr(account)
    assert "external_id='****'" in repr(account)
    with pytest.raises(AttributeError, match="immutable"):
        account.table_prefix = "b_"
    assert account == PartnerAccount(ROLE_A, external_id=EXTERNAL_ID, table_prefix="a_")
    assert account != PartnerAccount(ROLE_A, table_prefix="a_")
    assert len({account, PartnerAccount(ROLE_A, external_id=EXTERNAL_ID, table_prefix="a_")}) == 1


def test_from_dict_rejects_unknown_and_missing_keys() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown partner setting.*table_prefx"):
        PartnerAccount.from_dict({"role_arn": ROLE_A, "table_prefx": "a_"})
    with pytest.raises(ConfigurationError, match="needs a role_arn"):
        PartnerAccount.from_dict({"table_prefix": "a_"})


# --- building and loading MultiAccount ----------------------------------------------------------


def test_partner_ids_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="invalid partner id 'has space'"):
        make_accounts(partners={"has space": PartnerAccount(ROLE_A)})
    with pytest.raises(ConfigurationError, match="invalid partner id ''"):
        make_accounts(partners={"": PartnerAccount(ROLE_A)})


def test_bad_partner_settings_name_the_partner() -> None:
    with pytest.raises(ConfigurationError, match="partner 'acme': invalid role ARN"):
        make_accounts(partners={"acme": {"role_arn": "arn:aws:iam::1:role/x"}})
    with pytest.raises(ConfigurationError, match="partner 'acme': expected a PartnerAccount"):
        make_accounts(partners={"acme": ROLE_A})


@pytest.mark.parametrize("margin", [-1, 900, True, "300"])
def test_refresh_margin_is_validated(margin: Any) -> None:
    with pytest.raises(ConfigurationError, match="refresh_margin"):
        make_accounts(refresh_margin=margin)


def test_partition_mismatch_is_caught_early(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS", raising=False)
    china = {"acme": PartnerAccount("arn:aws-cn:iam::111111111111:role/x")}
    with pytest.raises(ConfigurationError, match=r"partition aws-cn.*set sts_endpoint_url"):
        MultiAccount(make_base(FakeSTS(sts_ok())), china)
    assert "acme" in make_accounts(partners=china)


CONFIG: dict[str, dict[str, Any]] = {
    "acme": {"role_arn": ROLE_A, "external_id": EXTERNAL_ID, "table_prefix": "acme_"},
    "globex": {"role_arn": ROLE_B, "region": "eu-west-1", "session_duration": 900},
}
EXPECTED = {
    "acme": PartnerAccount(ROLE_A, external_id=EXTERNAL_ID, table_prefix="acme_"),
    "globex": PartnerAccount(ROLE_B, region="eu-west-1", session_duration=900),
}


def test_loads_from_a_dict_json_text_file_and_environment(tmp_path: Path) -> None:
    base = make_base(FakeSTS(sts_ok()))
    text = json.dumps(CONFIG)
    path = tmp_path / "partners.json"
    path.write_text(text)
    loaded = [
        MultiAccount(base, CONFIG),
        MultiAccount.from_json(text, base=base),
        MultiAccount.from_json(path, base=base),
        MultiAccount.from_json(str(path), base=base),
        MultiAccount.from_env(base=base, environ={"DYNAMORM_PARTNERS": text}),
        MultiAccount.from_env(base=base, environ={"DYNAMORM_PARTNERS": str(path)}),
        MultiAccount.from_env(base=base, variable="MY_PARTNERS", environ={"MY_PARTNERS": text}),
    ]
    for accounts in loaded:
        assert accounts.partners == EXPECTED
        assert accounts.base is base


def test_empty_environment_configures_no_partners() -> None:
    accounts = MultiAccount.from_env(base=make_base(FakeSTS(sts_ok())), environ={})
    assert len(accounts) == 0
    with pytest.raises(UnknownPartner, match="unknown partner 'acme'; no partners are configured"):
        accounts.partner("acme")


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMORM_PARTNERS", json.dumps(CONFIG))
    accounts = MultiAccount.from_env(base=make_base(FakeSTS(sts_ok())))
    assert accounts.partners == EXPECTED


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{"acme": ', "the partner JSON is not valid JSON: Expecting value at line 1 column 10"),
        ("/nonexistent/partners.json", "cannot read partner file /nonexistent/partners.json"),
        ('{"acme": {"role_arn": 5}}', "partner 'acme': invalid role ARN 5"),
    ],
)
def test_bad_json_sources_are_clear(source: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MultiAccount.from_json(source, base=make_base(FakeSTS(sts_ok())))


def test_json_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigurationError, match=r"partner file .*list.json must be a JSON object"):
        MultiAccount.from_json(path, base=make_base(FakeSTS(sts_ok())))


def test_external_id_not_echoed_by_bad_json() -> None:
    source = json.dumps({"acme": {"role_arn": ROLE_A, "external_id": "Secret Id With Spaces"}})
    with pytest.raises(ConfigurationError) as info:
        MultiAccount.from_json(source, base=make_base(FakeSTS(sts_ok())))
    assert "Secret Id" not in str(info.value)


def test_default_base_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", BASE_SECRET)
    accounts = MultiAccount(partners={"acme": PartnerAccount(ROLE_A)})
    assert accounts.base.region == "eu-central-1"
    with pytest.raises(ConfigurationError, match="base must be a DB"):
        MultiAccount("us-east-1")  # type: ignore[arg-type]


# --- partner(): cache, base, unknown -------------------------------------------------------------


def test_none_or_empty_id_gives_the_base() -> None:
    accounts = make_accounts()
    assert accounts.partner(None) is accounts.base
    assert accounts.partner("") is accounts.base


def test_unknown_partner_is_named() -> None:
    accounts = make_accounts()
    with pytest.raises(UnknownPartner) as info:
        accounts.partner("initech")
    assert str(info.value) == "unknown partner 'initech'; 2 partner(s) are configured"
    assert info.value.partner_id == "initech"
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, ConfigurationError)


def test_partner_db_is_cached_and_isolated() -> None:
    accounts = make_accounts()
    acme = accounts.partner("acme")
    assert accounts.partner("acme") is acme
    globex = accounts.partner("globex")
    assert isinstance(acme, PartnerDB)
    assert isinstance(globex, PartnerDB)
    assert (acme.partner_id, globex.partner_id) == ("acme", "globex")
    assert acme.table_name("payments") == "acme_payments"
    assert globex.table_name("payments") == "globex_payments"
    assert acme.client.credentials is not globex.client.credentials
    assert acme.client.credentials is not accounts.base.client.credentials
    # Same region as the base: same endpoint; another region: that region's AWS endpoint.
    assert (acme.region, acme.client.endpoint.url) == ("us-east-1", "http://127.0.0.1:1")
    assert (globex.region, globex.client.endpoint.url) == (
        "eu-west-1",
        "https://dynamodb.eu-west-1.amazonaws.com",
    )
    assert acme.client.transport is accounts.base.client.transport
    assert acme.client.retry is accounts.base.client.retry


def test_partner_endpoint_url_overrides() -> None:
    accounts = make_accounts(
        partners={"acme": PartnerAccount(ROLE_A, endpoint_url="http://127.0.0.1:9")}
    )
    assert accounts.partner("acme").client.endpoint.url == "http://127.0.0.1:9"


def test_first_use_assumes_the_role_with_the_base_credentials() -> None:
    fake = FakeSTS(sts_ok())
    accounts = make_accounts(fake)
    db = accounts.partner("acme")
    assert fake.requests == []  # building the DB calls nothing
    creds = db.client.credentials.get()
    assert creds.access_key_id == "ASIATEMPKEY1"
    (request,) = fake.requests
    assert request.endpoint.url == "http://127.0.0.1:2"
    assert "Credential=AKIDBASE/" in request.headers["Authorization"]
    assert "/us-east-1/sts/aws4_request" in request.headers["Authorization"]
    assert b"RoleSessionName=dynamorm-acme" in request.body


def test_concurrent_partner_calls_build_one_db() -> None:
    accounts = make_accounts()
    barrier = threading.Barrier(20)
    seen: list[DB] = []

    def use() -> None:
        barrier.wait(10)
        seen.append(accounts.partner("acme"))

    threads = [threading.Thread(target=use) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(seen) == 20
    assert len({id(db) for db in seen}) == 1


def test_deadline_makes_credentials_ready_within_it() -> None:
    fake = FakeSTS(sts_ok())
    accounts = make_accounts(fake)
    with pytest.raises(DeadlineExceeded, match="partner 'acme'"):
        accounts.partner("acme", deadline=time.monotonic() - 1)
    assert fake.requests == []
    assert current_deadline() is None
    db = accounts.partner("acme", deadline=time.monotonic() + 30)
    assert len(fake.requests) == 1
    assert 0 < fake.requests[0].read_timeout <= 30
    db.client.credentials.get()
    assert len(fake.requests) == 1


def test_sts_failure_surfaces_and_next_call_retries() -> None:
    fake = FakeSTS(sts_error(403, "AccessDenied", "not authorized"), sts_ok())
    accounts = make_accounts(fake)
    db = accounts.partner("acme")
    with pytest.raises(AssumeRoleFailed, match=f"partner 'acme' \\(role {ROLE_A}\\)"):
        db.client.call("ListTables", {})
    assert len(fake.requests) == 1  # the DynamoDB client does not retry an STS failure
    assert db.client.credentials.get().access_key_id == "ASIATEMPKEY1"


def test_expired_token_from_dynamodb_assumes_the_role_again() -> None:
    sts = FakeSTS(sts_ok("ASIAFIRST"), sts_ok("ASIASECOND"))
    expired = json.dumps({"__type": "x#ExpiredTokenException", "message": "expired"}).encode()
    listed = json.dumps({"TableNames": []}).encode()
    dynamodb = FakeSTS(
        Response(400, {}, expired),
        Response(200, {"x-amz-crc32": str(zlib.crc32(listed))}, listed),
    )

    def route(request: Request) -> Response:
        return (sts if request.endpoint.port == 2 else dynamodb)(request)

    db = make_accounts(route).partner("acme")
    assert db.client.call("ListTables", {}) == {"TableNames": []}
    assert len(sts.requests) == 2
    signed_with = [r.headers["Authorization"].split("/")[0] for r in dynamodb.requests]
    assert signed_with == [
        "AWS4-HMAC-SHA256 Credential=ASIAFIRST",
        "AWS4-HMAC-SHA256 Credential=ASIASECOND",
    ]


def test_injected_clock_drives_refresh() -> None:
    now = [EXPIRES_AT - 3000]
    fake = FakeSTS(sts_ok("ASIAFIRST"), sts_ok("ASIASECOND"))
    db = make_accounts(fake, clock=lambda: now[0], refresh_margin=60).partner("acme")
    assert db.client.credentials.get().access_key_id == "ASIAFIRST"
    now[0] = EXPIRES_AT - 61
    assert db.client.credentials.get().access_key_id == "ASIAFIRST"
    now[0] = EXPIRES_AT - 59
    assert db.client.credentials.get().access_key_id == "ASIASECOND"


# --- runtime changes ----------------------------------------------------------------------------


def test_add_and_remove_partners() -> None:
    accounts = make_accounts()
    accounts.add_partner("initech", PartnerAccount(ROLE_B, table_prefix="ini_"))
    assert accounts.partner("initech").table_name("t") == "ini_t"
    accounts.add_partner("hooli", {"role_arn": ROLE_A})
    assert "hooli" in accounts
    assert len(accounts) == 4
    with pytest.raises(ConfigurationError, match="'initech' already exists; pass replace=True"):
        accounts.add_partner("initech", PartnerAccount(ROLE_B))
    old = accounts.partner("initech")
    accounts.add_partner("initech", PartnerAccount(ROLE_B, table_prefix="ini2_"), replace=True)
    new = accounts.partner("initech")
    assert new is not old
    assert new.table_name("t") == "ini2_t"
    accounts.remove_partner("initech")
    assert "initech" not in accounts
    with pytest.raises(UnknownPartner, match="'initech'"):
        accounts.partner("initech")
    with pytest.raises(UnknownPartner, match="'initech'"):
        accounts.remove_partner("initech")
    accounts.add_partner("initech", PartnerAccount(ROLE_B))
    assert accounts.partner("initech") is not new


def test_concurrent_add_and_remove_keep_the_map_consistent() -> None:
    accounts = make_accounts(partners={})

    def churn(worker: int) -> None:
        for round_ in range(30):
            partner_id = f"p{worker}-{round_}"
            accounts.add_partner(partner_id, PartnerAccount(ROLE_A))
            assert accounts.partner(partner_id).partner_id == partner_id  # type: ignore[attr-defined]
            if round_ % 2:
                accounts.remove_partner(partner_id)

    threads = [threading.Thread(target=churn, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(accounts.partners) == sorted(
        f"p{w}-{r}" for w in range(8) for r in range(0, 30, 2)
    )


def test_repr_masks_partner_ids_and_hides_secrets() -> None:
    accounts = make_accounts()
    db = accounts.partner("acme")
    db.client.credentials.get()
    texts = [repr(accounts), repr(db), repr(db.client), repr(db.client.credentials)]
    for text in texts:
        for secret in ("globex", EXTERNAL_ID, BASE_SECRET, "tempSecret", "tempSession"):
            assert secret not in text
    assert mask_partner_id("globex") in repr(accounts)
    assert repr(db).startswith(f"PartnerDB(partner={mask_partner_id('acme')!r}, ")
    unmasked = make_accounts(mask_partner_ids=False)
    assert "'globex'" in repr(unmasked)
    assert "partner='acme'" in repr(unmasked.partner("acme"))


# --- partner context, masking, log filter -------------------------------------------------------


def test_partner_context_nests_and_restores() -> None:
    assert current_partner() is None
    with partner_context("acme"):
        assert current_partner() == "acme"
        with partner_context("globex"):
            assert current_partner() == "globex"
        with partner_context(None):
            assert current_partner() is None
        assert current_partner() == "acme"
    assert current_partner() is None


def test_partner_context_restores_after_an_error() -> None:
    with pytest.raises(RuntimeError), partner_context("acme"):
        raise RuntimeError
    assert current_partner() is None


def test_partner_context_is_per_thread_and_copies_with_the_context() -> None:
    seen: dict[str, str | None] = {}
    with partner_context("acme"):
        plain = threading.Thread(target=lambda: seen.update(plain=current_partner()))
        copied_ctx = contextvars.copy_context()
        copied = threading.Thread(
            target=lambda: copied_ctx.run(lambda: seen.update(copied=current_partner()))
        )
        for thread in (plain, copied):
            thread.start()
            thread.join(10)
    assert seen == {"plain": None, "copied": "acme"}


def test_partner_context_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="partner_id must be a str"):
        partner_context(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="deadline must be"):
        credentials_deadline("soon")  # type: ignore[arg-type]


def test_mask_is_stable_and_short() -> None:
    assert mask_partner_id("acme-payments") == mask_partner_id("acme-payments")
    assert mask_partner_id("acme-payments").startswith("ac~")
    assert mask_partner_id("acme-payments") != mask_partner_id("acme-paymentz")
    assert mask_partner_id("ab").startswith("~")


@settings(max_examples=80)
@given(st.text(min_size=1, max_size=64))
def test_mask_never_reveals_more_than_two_characters(partner_id: str) -> None:
    masked = mask_partner_id(partner_id)
    shown, _, digest = masked.rpartition("~")
    assert len(shown) <= 2
    assert len(digest) == 8
    if len(partner_id) > 4:
        assert partner_id not in masked


def test_log_filter_adds_the_masked_partner(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.accounts")
    partners: list[object] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            partners.append(getattr(record, "partner", None))

    handler = Keep()
    handler.addFilter(PartnerLogFilter())
    raw = Keep()
    raw.addFilter(PartnerLogFilter(mask=False))
    logger.addHandler(handler)
    logger.addHandler(raw)
    try:
        with caplog.at_level(logging.INFO, logger="tests.accounts"):
            logger.info("outside")
            with partner_context("acme-payments"):
                logger.info("inside")
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(raw)
    assert partners == ["-", "-", mask_partner_id("acme-payments"), "acme-payments"]


# --- defaults shared with the base (payment example's rough edges) ---------------------------


def test_sts_endpoint_defaults_to_the_standard_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    fake = FakeSTS(sts_ok())
    accounts = MultiAccount(make_base(fake), {"acme": PartnerAccount(ROLE_A)})
    accounts.partner("acme", deadline=time.monotonic() + 5)
    assert [r.endpoint.url for r in fake.requests] == ["http://127.0.0.1:9"]


def test_an_explicit_sts_endpoint_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    fake = FakeSTS(sts_ok())
    accounts = make_accounts(fake)
    accounts.partner("acme", deadline=time.monotonic() + 5)
    assert [r.endpoint.url for r in fake.requests] == ["http://127.0.0.1:2"]


def test_partner_dbs_share_the_base_cursor_secret() -> None:
    accounts = MultiAccount(
        make_base(FakeSTS(sts_ok()), cursor_secret="s" * 16),
        {"acme": PartnerAccount(ROLE_A)},
        sts_endpoint_url="http://127.0.0.1:2",
    )
    assert accounts.partner("acme").cursor_secret == b"s" * 16
    assert make_accounts().partner("acme").cursor_secret is None
