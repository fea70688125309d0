"""The 1 MB Query page of the decode benchmark, and a server that answers every POST with it.

The page holds ``ITEMS`` items of about 1 KB, each using S, N (int and decimal), BOOL, SS, NS, a
nested M and an L of M. :func:`expected` gives the values a reader must find in item ``i``, in the
order of the benchmark's read-back tuples. Run as ``python -m benchmarks._page_data``: like the
instant server (whose connection handler it reuses) it prints its port on the first stdout line
and serves until its stdin closes.
"""

from __future__ import annotations

import json
import zlib
from decimal import Decimal
from typing import Any

from benchmarks._server import InstantServer, serve_forever

ITEMS = 1000
PARTITION = "merchant-0042"
SET_POSITIONS = (12, 13)
"""Positions of the two sets (SS, NS) in a read-back tuple; their element order is free."""


def _price(i: int, j: int) -> str:
    return f"{(i * 7 + j * 13) % 500}.{(i + j) % 100:02d}"


def item(i: int) -> dict[str, Any]:
    """Item ``i`` of the page as DynamoDB JSON (about 1 KB)."""
    return {
        "pk": {"S": PARTITION},
        "sk": {"S": f"order#{i:06d}"},
        "customer": {"S": f"customer-{i % 97:05d}"},
        "status": {"S": ("captured", "pending", "refunded")[i % 3]},
        "description": {"S": f"order {i} " + "lorem ipsum dolor sit amet " * 5},
        "amount": {"N": str(125_000 + i)},
        "attempts": {"N": str(i % 5)},
        "version": {"N": str(i % 17 + 1)},
        "fee": {"N": f"{i % 90}.{i % 100:02d}"},
        "rate": {"N": f"0.{i % 1000:03d}5"},
        "paid": {"BOOL": i % 2 == 0},
        "refunded": {"BOOL": i % 3 == 2},
        "tags": {"SS": ["card", "eu", f"batch-{i % 10}", f"tag-{i:04d}"]},
        "codes": {"NS": [str(i), str(i + 1000), "7", "-42"]},
        "card": {
            "M": {
                "brand": {"S": ("visa", "mastercard", "amex")[i % 3]},
                "last4": {"S": f"{i % 10_000:04d}"},
                "exp_month": {"N": str(i % 12 + 1)},
                "exp_year": {"N": str(2026 + i % 8)},
                "holder": {"S": f"Holder {i}"},
            }
        },
        "lines": {
            "L": [
                {
                    "M": {
                        "sku": {"S": f"sku-{i:04d}-{j}"},
                        "qty": {"N": str(j + 1)},
                        "price": {"N": _price(i, j)},
                    }
                }
                for j in range(5)
            ]
        },
    }


def expected(i: int) -> tuple[Any, ...]:
    """The values of item ``i`` in read-back order (sets as frozensets, nested as tuples)."""
    wire = item(i)
    card = wire["card"]["M"]
    return (
        *(wire[k]["S"] for k in ("pk", "sk", "customer", "status", "description")),
        *(int(wire[k]["N"]) for k in ("amount", "attempts", "version")),
        Decimal(wire["fee"]["N"]),
        Decimal(wire["rate"]["N"]),
        wire["paid"]["BOOL"],
        wire["refunded"]["BOOL"],
        frozenset(wire["tags"]["SS"]),
        frozenset(int(n) for n in wire["codes"]["NS"]),
        (
            card["brand"]["S"],
            card["last4"]["S"],
            int(card["exp_month"]["N"]),
            int(card["exp_year"]["N"]),
            card["holder"]["S"],
        ),
        tuple(
            (line["M"]["sku"]["S"], int(line["M"]["qty"]["N"]), Decimal(line["M"]["price"]["N"]))
            for line in wire["lines"]["L"]
        ),
    )


def canonical(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A read-back tuple with its sets turned into frozensets, comparable to :func:`expected`."""
    return tuple(frozenset(v) if k in SET_POSITIONS else v for k, v in enumerate(values))


def page_body() -> bytes:
    """The Query response body: ``ITEMS`` items, counts and consumed capacity, no more pages."""
    page = {
        "Items": [item(i) for i in range(ITEMS)],
        "Count": ITEMS,
        "ScannedCount": ITEMS,
        "ConsumedCapacity": {"TableName": "orders", "CapacityUnits": 128.0},
    }
    return json.dumps(page, separators=(",", ":")).encode()


def response_bytes(body: bytes) -> bytes:
    """The whole HTTP response for ``body``, with ``Content-Length`` and ``x-amz-crc32``."""
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Server: instant\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-crc32: {zlib.crc32(body)}\r\n"
        "x-amzn-RequestId: BENCHMARKQUERYPAGE000000000000000000000000000000\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def main() -> None:
    """Serve the page until stdin closes; print the port first."""
    response = response_bytes(page_body())
    serve_forever(lambda head, body: response)


class PageServer(InstantServer):
    """Serves the 1 MB page from a child process; a context manager that stops it."""

    def __init__(self, python: str, env: dict[str, str]) -> None:
        super().__init__(python, env, module="benchmarks._page_data")


if __name__ == "__main__":
    main()
