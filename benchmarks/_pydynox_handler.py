"""The example Lambda handler (``examples/lambda/handler.py``) written on pydynox 1.8, for the
cold-start comparison: the same read, change and version-checked write, the way its docs write
it (a model bound to a client built at init)."""

from __future__ import annotations

import os
from typing import Any

from pydynox import DynamoDBClient, Model, ModelConfig
from pydynox.attributes import NumberAttribute, StringAttribute, VersionAttribute
from pydynox.exceptions import ConditionalCheckFailedException

client = DynamoDBClient(endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))


class Payment(Model):
    model_config = ModelConfig(table=os.environ.get("TABLE_PREFIX", "") + "payments", client=client)
    pk = StringAttribute(partition_key=True)
    sk = StringAttribute(sort_key=True)
    merchant = StringAttribute()
    amount = NumberAttribute()
    currency = StringAttribute(default="EUR")
    status = StringAttribute(default="pending")
    attempts = NumberAttribute(default=0)
    version = VersionAttribute()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Move a payment to a new status: read it, change it, write it back (version-checked)."""
    payment = Payment.sync_get(pk=event["account"], sk=event["order"])
    if payment is None:
        return {"statusCode": 404, "body": "no such payment"}
    payment.status = event["status"]
    payment.attempts = (payment.attempts or 0) + 1
    try:
        payment.sync_save()
    except ConditionalCheckFailedException:
        return {"statusCode": 409, "body": "the payment changed meanwhile; read it again"}
    return {"statusCode": 200, "status": payment.status, "version": payment.version}
