"""The payment process handler (``examples/payment/process.py``) written on boto3 + Powertools
idempotency, for the side-by-side benchmarks: the same token check, validation, partner role,
customer read and one 7-action transaction (payment, its unique-key sentinel, audit record,
hold, two ledger entries, outbox event), the way boto3 users write it."""

from __future__ import annotations

import json
import os
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jwt
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

PARTNERS: dict[str, dict[str, str]] = json.loads(os.environ["DYNAMORM_PARTNERS"])
SECRET = os.environ["JWT_SECRET"]
CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "DKK", "NOK", "PLN", "CAD"})
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

persistence = DynamoDBPersistenceLayer(table_name=os.environ["TABLE_PREFIX"] + "idempotency")
config = IdempotencyConfig(
    event_key_jmespath="[partner, merchant, idempotency_key]",
    payload_validation_jmespath="[amount, currency, customer_id, description]",
    expires_after_seconds=86400,
)
sts = boto3.client("sts")
_partners: dict[str, Any] = {}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }


def dynamodb_for(partner: str) -> tuple[Any, str]:
    """The partner's DynamoDB client (assumed role, cached) and table prefix."""
    if partner not in _partners:
        account = PARTNERS[partner]
        creds = sts.assume_role(
            RoleArn=account["role_arn"],
            RoleSessionName=f"payments-{partner}",
            ExternalId=account["external_id"],
        )["Credentials"]
        client = boto3.client(
            "dynamodb",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        _partners[partner] = (client, account.get("table_prefix", ""))
    result: tuple[Any, str] = _partners[partner]
    return result


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


@idempotent_function(  # type: ignore[untyped-decorator]
    data_keyword_argument="command", persistence_store=persistence, config=config
)
def authorize(command: dict[str, Any]) -> dict[str, Any]:
    ddb, prefix = dynamodb_for(command["partner"])
    merchant, customer = command["merchant"], command["customer_id"]
    found = ddb.get_item(
        TableName=prefix + "customers",
        Key={"merchant_id": _s(merchant), "customer_id": _s(customer)},
    ).get("Item")
    if found is None:
        raise Refused(404, "no such customer")
    now = datetime.now(UTC)
    stamp = now.isoformat()
    pid = f"pay_{int(now.timestamp() * 1000):013d}_{secrets.token_hex(4)}"
    amount, currency = command["amount"], command["currency"]
    payment = {
        "merchant_id": _s(merchant),
        "payment_id": _s(pid),
        "idempotency_key": _s(command["idempotency_key"]),
        "customer_id": _s(customer),
        "amount": _n(amount),
        "currency": _s(currency),
        "status": _s("authorized"),
        "status_key": _s(f"{merchant}#authorized"),
        "placed_at": _s(stamp),
        "description": _s(command["description"]),
        "version": _n(0),
        "created_at": _s(stamp),
        "updated_at": _s(stamp),
    }
    new = "attribute_not_exists(merchant_id)"
    sentinel = f"#unique#merchant_id+idempotency_key={merchant}|{command['idempotency_key']}"
    changes = {k: {"new": v} for k, v in (("amount", amount), ("status", "authorized"))}
    puts = [
        (prefix + "payments", payment, new),
        (prefix + "payments", {"merchant_id": _s(sentinel), "payment_id": _s("#unique")}, new),
        (
            prefix + "audit",
            {
                "target": _s(f'payments#["{merchant}","{pid}"]'),
                "record_id": _s(f"{stamp}#{secrets.token_hex(4)}"),
                "actor": _s(f"merchant:{merchant}"),
                "operation": _s("create"),
                "day": _s(stamp[:10]),
                "changes": _s(json.dumps(changes)),
            },
            "attribute_not_exists(target)",
        ),
        (
            prefix + "holds",
            {
                "hold_id": _s(f"{merchant}#{pid}"),
                "customer_id": _s(customer),
                "amount": _n(amount),
                "currency": _s(currency),
                "expires_at": _n(int((now + timedelta(days=7)).timestamp())),
            },
            "attribute_not_exists(hold_id)",
        ),
        *(
            (
                prefix + "ledger",
                {
                    "account": _s(account),
                    "entry_id": _s(f"{pid}#authorization"),
                    "payment_id": _s(pid),
                    "kind": _s("authorization"),
                    "amount": _n(value),
                    "currency": _s(currency),
                    "created_at": _s(stamp),
                },
                "attribute_not_exists(account)",
            )
            for account, value in (
                (f"customer#{merchant}#{customer}", -amount),
                (f"merchant#{merchant}", amount),
            )
        ),
        (
            prefix + "outbox",
            {
                "merchant_id": _s(merchant),
                "event_id": _s(f"evt_{pid}_authorized"),
                "type": _s("payment.authorized"),
                "payment_id": _s(pid),
                "payload": _s(json.dumps({"payment_id": pid, "amount": amount}, sort_keys=True)),
                "delivered": {"BOOL": False},
                "created_at": _s(stamp),
            },
            "attribute_not_exists(merchant_id)",
        ),
    ]
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": t, "Item": i, "ConditionExpression": c}} for t, i, c in puts
        ],
        ClientRequestToken=str(uuid.uuid4()),
    )
    body = {"payment_id": pid, "status": "authorized", "amount": amount, "currency": currency}
    return _answer(201, {**body, "created_at": stamp})


def _request(event: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise Refused(401, "a bearer token is required")
    try:
        claims = jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            audience=os.environ.get("JWT_AUDIENCE", "payments-api"),
            issuer=os.environ.get("JWT_ISSUER", "https://auth.payments.example"),
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.InvalidTokenError:
        raise Refused(401, "the token is invalid or expired") from None
    if "payments:write" not in str(claims.get("scope", "")).split():
        raise Refused(403, "the token lacks the scope payments:write")
    if claims.get("partner") not in PARTNERS:
        raise Refused(403, "this partner is not enabled")
    key = headers.get("idempotency-key", "")
    if not _KEY.match(key):
        raise Refused(400, "Idempotency-Key is invalid")
    body = json.loads(event.get("body") or "")
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise Refused(400, "amount is invalid")
    if body.get("currency") not in CURRENCIES:
        raise Refused(400, "currency is invalid")
    if not _ID.match(str(body.get("customer_id", ""))):
        raise Refused(400, "customer_id is invalid")
    return {
        "partner": claims["partner"],
        "merchant": claims["merchant"],
        "idempotency_key": key,
        "amount": amount,
        "currency": body["currency"],
        "customer_id": body["customer_id"],
        "description": str(body.get("description", "")),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config.register_lambda_context(context)
    try:
        answer: dict[str, Any] = authorize(command=_request(event))
        return answer
    except Refused as exc:
        return _answer(exc.status, {"error": str(exc)})
    except IdempotencyAlreadyInProgressError:
        return _answer(409, {"error": "in progress"})
    except IdempotencyValidationError:
        return _answer(422, {"error": "idempotency key reused"})
