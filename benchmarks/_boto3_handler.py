"""The example Lambda handler (``examples/lambda/handler.py``) written on boto3, for the cold-start
comparison: the same read, change and version-checked write, the way boto3 users write it."""

from __future__ import annotations

import os
from typing import Any

import boto3

table = boto3.resource("dynamodb").Table(os.environ.get("TABLE_PREFIX", "") + "payments")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Move a payment to a new status: read it, change it, write it back (version-checked)."""
    item = table.get_item(Key={"pk": event["account"], "sk": event["order"]}).get("Item")
    if item is None:
        return {"statusCode": 404, "body": "no such payment"}
    version = item["version"]
    item["status"] = event["status"]
    item["attempts"] += 1
    item["version"] = version + 1
    try:
        table.put_item(
            Item=item,
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": version},
        )
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return {"statusCode": 409, "body": "the payment changed meanwhile; read it again"}
    return {"statusCode": 200, "status": item["status"], "version": int(item["version"])}
