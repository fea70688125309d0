"""The idempotency benchmark's instant server answers each side in its own record format."""

from __future__ import annotations

import json

from benchmarks._idempotency_server import RESULT, answer

HEAD = b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.PutItem"


def _body(response: bytes) -> tuple[bytes, dict[str, object]]:
    head, _, body = response.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body)


def test_writes_are_acknowledged_outside_replay_mode() -> None:
    status, body = _body(answer(HEAD, b'{"Item": {}}', replay=False))
    assert (status, body) == (b"HTTP/1.1 200 X", {})


def test_replay_mode_returns_each_side_its_completed_record() -> None:
    ours = {"Item": {"id": {"S": "a"}, "lock": {"S": "mine"}, "in_progress_expiry": {"N": "1"}}}
    status, body = _body(answer(HEAD, json.dumps(ours).encode(), replay=True))
    assert status == b"HTTP/1.1 400 X"
    item = body["Item"]
    assert isinstance(item, dict)
    assert item["lock"] == {"S": "another-call"}
    assert json.loads(item["data"]["S"]) == {"json": RESULT}
    theirs = {"Item": {"id": {"S": "a"}, "in_progress_expiration": {"N": "1"}}}
    _, body = _body(answer(HEAD, json.dumps(theirs).encode(), replay=True))
    item = body["Item"]
    assert isinstance(item, dict)
    assert item == {
        "id": {"S": "a"},
        "status": {"S": "COMPLETED"},
        "data": {"S": json.dumps(RESULT)},
    }
    update = b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.UpdateItem"
    assert _body(answer(update, b"{}", replay=True))[1] == {}
