"""The whole platform on 127.0.0.1, for the demo, the tests and the benchmarks.

DynamoDB Local (or moto where Java is missing) serves DynamoDB; moto's server serves S3, KMS
and STS. The environment is what the SAM template gives the functions, with the local endpoints
(``AWS_ENDPOINT_URL_<SERVICE>``) and two partners whose roles moto's STS lets us assume.
Also: tokens, and API Gateway HTTP API and S3 events (built with ``dynamorm.testing``).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from contextlib import ExitStack
from types import TracebackType
from typing import Any

from dynamorm import DB, AuditRecord, LocalContext
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB, create_kms_key
from dynamorm.testing import http_api_event, s3_event
from examples.payment import objects
from examples.payment.models import PARTNER_MODELS, Customer
from examples.payment.platform import Platform, platform, reset_platform

SETTLEMENT_BUCKET = "payments-settlements"
EXPORT_BUCKET = "payments-exports"
ISSUER = "https://auth.payments.example"
AUDIENCE = "payments-api"
PARTNERS = {
    "acme": {
        "role_arn": "arn:aws:iam::111111111111:role/payments-partner",
        "external_id": "acme-ext-7f3c",
        "table_prefix": "acme_",
    },
    "globex": {
        "role_arn": "arn:aws:iam::222222222222:role/payments-partner",
        "external_id": "globex-ext-91ab",
        "table_prefix": "globex_",
    },
}


class LocalPlatform:
    """Start the engines, set the environment, create tables and buckets; undo it all on exit."""

    def __init__(
        self,
        *,
        engine: str | None = None,
        dynamodb_endpoint: str = "",
        aws_endpoint: str = "",
        use_environment: bool = False,
        prefix: str = "",
    ) -> None:
        """``use_environment``: use the engines already at ``$AWS_ENDPOINT_URL_DYNAMODB`` and
        ``$AWS_ENDPOINT_URL_S3`` (moto's server, also serving KMS and STS) instead of starting
        them; ``dynamodb_endpoint`` / ``aws_endpoint`` name them explicitly."""
        if use_environment:
            dynamodb_endpoint = dynamodb_endpoint or os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
            aws_endpoint = aws_endpoint or os.environ["AWS_ENDPOINT_URL_S3"]
        self.engine = engine
        self.dynamodb_endpoint = dynamodb_endpoint
        self.aws_endpoint = aws_endpoint
        self.prefix = prefix or f"demo{secrets.token_hex(3)}_"
        self.jwt_secret = secrets.token_hex(32)
        self._stack = ExitStack()
        self._saved: dict[str, str | None] = {}
        self.dynamodb: LocalDynamoDB | None = None
        self.aws: LocalDynamoDB | None = None

    def __enter__(self) -> LocalPlatform:
        try:
            if not self.dynamodb_endpoint:
                self.dynamodb = self._stack.enter_context(LocalDynamoDB(self.engine))
                self.dynamodb_endpoint = self.dynamodb.endpoint
            if not self.aws_endpoint:
                self.aws = self._stack.enter_context(LocalDynamoDB("moto"))
                self.aws_endpoint = self.aws.endpoint
            self._environment()
            self.create_resources()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        reset_platform()
        objects.reset_s3()
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._stack.close()

    def _environment(self) -> None:
        key, secret = LOCAL_CREDENTIALS
        partners = {
            pid: {
                **cfg,
                "table_prefix": f"{self.prefix}{cfg['table_prefix']}",
                # each partner's own key, as partner-role.yaml creates in its account
                "kms_key_arn": self._partner_key(cfg["role_arn"], cfg["external_id"]),
            }
            for pid, cfg in PARTNERS.items()
        }
        env = {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint,
            "AWS_ENDPOINT_URL_S3": self.aws_endpoint,
            "AWS_ENDPOINT_URL_KMS": self.aws_endpoint,
            "AWS_ENDPOINT_URL_STS": self.aws_endpoint,
            "KMS_KEY_ARN": create_kms_key(self.aws_endpoint),
            "DYNAMORM_PARTNERS": json.dumps(partners),
            "JWT_SECRET": self.jwt_secret,
            "JWT_ISSUER": ISSUER,
            "JWT_AUDIENCE": AUDIENCE,
            "CURSOR_SECRET": secrets.token_hex(16),
            "TABLE_PREFIX": f"{self.prefix}platform_",
            "EXPORT_BUCKET": EXPORT_BUCKET,
        }
        for name, value in env.items():
            self._saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "RECONCILE_CONTINUE"):
            self._saved.setdefault(name, os.environ.get(name))
            os.environ.pop(name, None)
        reset_platform()
        objects.reset_s3()

    def _partner_key(self, role_arn: str, external_id: str) -> str:
        """A KMS key in the partner's account (moto keeps keys per account): created with the
        partner role's credentials, as the partner's own stack would."""
        import boto3

        key, secret = LOCAL_CREDENTIALS
        options: dict[str, Any] = {"region_name": "us-east-1", "endpoint_url": self.aws_endpoint}
        sts = boto3.client("sts", aws_access_key_id=key, aws_secret_access_key=secret, **options)
        creds = sts.assume_role(
            RoleArn=role_arn, RoleSessionName="partner-setup", ExternalId=external_id
        )["Credentials"]
        kms = boto3.client(
            "kms",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            **options,
        )
        arn: str = kms.create_key(Description="partner payments key")["KeyMetadata"]["Arn"]
        return arn

    @property
    def app(self) -> Platform:
        return platform()

    def create_resources(self) -> None:
        """The tables (from the models) in every account, and the two buckets."""
        app = self.app
        for partner in PARTNERS:
            app.partner(partner).ensure_tables(*PARTNER_MODELS, AuditRecord)
        for bucket in (SETTLEMENT_BUCKET, EXPORT_BUCKET):
            objects.s3().create_bucket(bucket)

    def partner_db(self, partner: str) -> DB:
        return self.app.partner(partner)

    def add_customer(self, partner: str, merchant: str, customer: str, card: str) -> Customer:
        return (
            self.partner_db(partner)
            .with_actor("onboarding")
            .create(
                Customer(
                    merchant_id=merchant,
                    customer_id=customer,
                    name=customer.title(),
                    card_last4=card[-4:],
                    card_number=card,
                    card_expiry="12/30",
                )
            )
        )

    def token(self, partner: str, merchant: str, *, scope: str = "", ttl: float = 300) -> str:
        return mint_token(
            self.jwt_secret,
            partner=partner,
            merchant=merchant,
            scope=scope or "payments:write payments:read payments:export",
            ttl=ttl,
        )

    def upload_settlement(self, partner: str, name: str, text: str | bytes) -> dict[str, Any]:
        """Put a settlement file in S3; return the ObjectCreated event S3 would send."""
        data = text.encode() if isinstance(text, str) else text
        key = f"settlements/{partner}/{name}"
        etag = objects.s3().put(SETTLEMENT_BUCKET, key, data, content_type="text/csv")
        return s3_event(SETTLEMENT_BUCKET, key, size=len(data), etag=etag)


def mint_token(
    secret: str, *, partner: str, merchant: str, scope: str, ttl: float = 300, **claims: Any
) -> str:
    """A bearer token as the platform's identity provider would issue it (HS256)."""
    import jwt

    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": f"{partner}:{merchant}:api-key",
        "partner": partner,
        "merchant": merchant,
        "scope": scope,
        "iat": now,
        "exp": now + int(ttl),
        **claims,
    }
    return jwt.encode(body, secret, algorithm="HS256")


def http_event(
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, with a bearer token."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    return http_api_event(method, path, body=body, headers=all_headers, query=query)


def context(timeout: float = 10.0, name: str = "payments") -> LocalContext:
    return LocalContext(timeout, memory_mb=512, function_name=name)
