"""Exactly-once writes under faults: every write kind x every fault, through a fault-injecting
proxy in front of DynamoDB Local. Each case asserts what the caller saw and how many times the
write is stored (balances and versions count the applications)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from dynamorm import (
    DB,
    DeadlineExceeded,
    DeadlineOutcomeUnknown,
    NotFound,
    OutcomeUnknown,
    RetryPolicy,
    Throttled,
    VersionConflict,
)
from dynamorm._orm.keys import key
from dynamorm._orm.model import Attr, Model, field
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB
from tests.faults import APPLIED, FAULTS, FaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]

READ_TIMEOUT = 0.8
"""The faulty DB's read timeout: what a ``timeout`` fault costs, and one deadline slice."""


class Acct(Model, table="eo_accts"):
    pk: Attr[str] = field(pk=True)
    balance: Attr[int] = field(default=0)
    note: Attr[str] = field(default="")


class VAcct(Model, table="eo_vaccts"):
    pk: Attr[str] = field(pk=True)
    balance: Attr[int] = field(default=0)
    note: Attr[str] = field(default="")
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)


@dataclass
class Env:
    direct: DB
    faulty: DB
    proxy: FaultProxy
    connect: Callable[[str, float, int], DB]


@pytest.fixture(scope="module")
def env(dynamodb_local: LocalDynamoDB, make_db: Callable[..., DB]) -> Iterator[Env]:
    host, _, port = dynamodb_local.endpoint.rpartition("://")[2].rpartition(":")
    proxy = FaultProxy((host, int(port)))
    prefix = f"eo{secrets.token_hex(3)}_"

    def connect(url: str, timeout: float, attempts: int = 4) -> DB:
        return make_db(
            region=dynamodb_local.region,
            endpoint_url=url,
            credentials=LOCAL_CREDENTIALS,
            table_prefix=prefix,
            retry=RetryPolicy(attempts, base_delay=0.001, max_delay=0.01),
            timeout=(2.0, timeout),
        )

    direct, faulty = connect(dynamodb_local.endpoint, 10.0), connect(proxy.url, READ_TIMEOUT)
    direct.ensure_tables(Acct, VAcct)
    try:
        yield Env(direct, faulty, proxy, connect)
    finally:
        proxy.close()
        for model in (Acct, VAcct):
            direct.delete_table(model, wait=False)
        direct.close()
        faulty.close()


# --- the write kinds ---------------------------------------------------------------------
# Each returns the operation to fault and the write; the write returns a check of the result
# and of the stored item (run after the proxy is disarmed).

Check = Callable[[], None]
Write = Callable[[], Check]


def _create(e: Env, pk: str) -> tuple[str, Write]:
    def write() -> Check:
        obj = e.faulty.create(Acct(pk=pk, balance=100))

        def check() -> None:
            assert obj.balance == 100
            assert e.direct.get(Acct, pk=pk, consistent=True).balance == 100

        return check

    return "PutItem", write


def _create_versioned(e: Env, pk: str) -> tuple[str, Write]:
    def write() -> Check:
        obj = e.faulty.create(VAcct(pk=pk, balance=100))

        def check() -> None:
            stored = e.direct.get(VAcct, pk=pk, consistent=True)
            assert (obj.version, stored.version, stored.balance) == (0, 0, 100)

        return check

    return "PutItem", write


def _put(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(Acct(pk=pk, balance=1))

    def write() -> Check:
        e.faulty.put(Acct(pk=pk, balance=100, note="put"))

        def check() -> None:
            stored = e.direct.get(Acct, pk=pk, consistent=True)
            assert (stored.balance, stored.note) == (100, "put")

        return check

    return "UpdateItem", write


def _put_versioned(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(VAcct(pk=pk, balance=1))
    obj = e.direct.get(VAcct, pk=pk, consistent=True)

    def write() -> Check:
        obj.balance = 100
        e.faulty.put(obj)

        def check() -> None:
            stored = e.direct.get(VAcct, pk=pk, consistent=True)
            assert (obj.version, stored.version, stored.balance) == (1, 1, 100)

        return check

    return "UpdateItem", write


def _save_versioned(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(VAcct(pk=pk, balance=1))
    obj = e.direct.get(VAcct, pk=pk, consistent=True)

    def write() -> Check:
        obj.balance += 50
        e.faulty.save(obj)

        def check() -> None:
            stored = e.direct.get(VAcct, pk=pk, consistent=True)
            assert (obj.version, stored.version, stored.balance) == (1, 1, 51)

        return check

    return "UpdateItem", write


def _save(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(Acct(pk=pk, balance=1))
    obj = e.direct.get(Acct, pk=pk, consistent=True)

    def write() -> Check:
        obj.note = "saved"
        e.faulty.save(obj)

        def check() -> None:
            assert e.direct.get(Acct, pk=pk, consistent=True).note == "saved"

        return check

    return "UpdateItem", write


def _debit_by_key(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(Acct(pk=pk, balance=1000))

    def write() -> Check:
        after = e.faulty.update(
            key(Acct, pk=pk), Acct.balance.add(-500), condition=Acct.balance >= 500
        )

        def check() -> None:
            assert after.balance == 500
            assert e.direct.get(Acct, pk=pk, consistent=True).balance == 500

        return check

    return "TransactWriteItems", write


def _increment_instance(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(Acct(pk=pk, balance=1000))
    obj = e.direct.get(Acct, pk=pk, consistent=True)

    def write() -> Check:
        e.faulty.update(obj, Acct.balance.increment(7))

        def check() -> None:
            assert obj.balance == 1007
            assert e.direct.get(Acct, pk=pk, consistent=True).balance == 1007

        return check

    return "TransactWriteItems", write


def _add_versioned_instance(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(VAcct(pk=pk, balance=10))
    obj = e.direct.get(VAcct, pk=pk, consistent=True)

    def write() -> Check:
        e.faulty.update(obj, VAcct.balance.add(5))

        def check() -> None:
            stored = e.direct.get(VAcct, pk=pk, consistent=True)
            assert (obj.balance, obj.version) == (15, 1)
            assert (stored.balance, stored.version) == (15, 1)

        return check

    return "UpdateItem", write


def _set_versioned_key(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(VAcct(pk=pk, balance=10))

    def write() -> Check:
        after = e.faulty.update(key(VAcct, pk=pk), VAcct.note.set("x"))

        def check() -> None:
            stored = e.direct.get(VAcct, pk=pk, consistent=True)
            assert (after.note, after.version) == ("x", 1)
            assert (stored.note, stored.version) == ("x", 1)

        return check

    return "TransactWriteItems", write


def _set_by_key(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(Acct(pk=pk, balance=10))

    def write() -> Check:
        after = e.faulty.update(key(Acct, pk=pk), Acct.note.set("set"))

        def check() -> None:
            assert after.note == "set"
            assert e.direct.get(Acct, pk=pk, consistent=True).note == "set"

        return check

    return "UpdateItem", write


def _gone(e: Env, model: type[Model], pk: str) -> Check:
    def check() -> None:
        with pytest.raises(NotFound):
            e.direct.get(model, pk=pk, consistent=True)

    return check


def _delete(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(Acct(pk=pk))

    def write() -> Check:
        e.faulty.delete(key(Acct, pk=pk))
        return _gone(e, Acct, pk)

    return "DeleteItem", write


def _delete_versioned(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(VAcct(pk=pk))
    obj = e.direct.get(VAcct, pk=pk, consistent=True)

    def write() -> Check:
        e.faulty.delete(obj)
        return _gone(e, VAcct, pk)

    return "DeleteItem", write


def _delete_conditional(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(Acct(pk=pk, balance=0))

    def write() -> Check:
        e.faulty.delete(key(Acct, pk=pk), condition=Acct.balance == 0)
        return _gone(e, Acct, pk)

    return "TransactWriteItems", write


def _batch_put(e: Env, pk: str) -> tuple[str, Write]:
    def write() -> Check:
        with e.faulty.batch_write() as w:
            for n in range(3):
                w.put(Acct(pk=f"{pk}-{n}", balance=n))

        def check() -> None:
            for n in range(3):
                assert e.direct.get(Acct, pk=f"{pk}-{n}", consistent=True).balance == n

        return check

    return "BatchWriteItem", write


def _transaction(e: Env, pk: str) -> tuple[str, Write]:
    e.direct.create(Acct(pk=pk, balance=10))

    def write() -> Check:
        with e.faulty.transaction() as tx:
            tx.create(Acct(pk=f"{pk}-new", balance=1))
            tx.update(key(Acct, pk=pk), Acct.balance.add(5))

        def check() -> None:
            assert e.direct.get(Acct, pk=pk, consistent=True).balance == 15
            assert e.direct.get(Acct, pk=f"{pk}-new", consistent=True).balance == 1

        return check

    return "TransactWriteItems", write


KINDS: dict[str, Callable[[Env, str], tuple[str, Write]]] = {
    "create": _create,
    "create_versioned": _create_versioned,
    "put": _put,
    "put_versioned": _put_versioned,
    "save": _save,
    "save_versioned": _save_versioned,
    "debit_by_key": _debit_by_key,
    "increment_instance": _increment_instance,
    "add_versioned_instance": _add_versioned_instance,
    "set_versioned_key": _set_versioned_key,
    "set_by_key": _set_by_key,
    "delete": _delete,
    "delete_versioned": _delete_versioned,
    "delete_conditional": _delete_conditional,
    "batch_put": _batch_put,
    "transaction": _transaction,
}
ASYNC_KINDS = {"debit_by_key", "save_versioned", "batch_put", "transaction"}
ASYNC_FAULTS = {"lose", "5xx_after"}
"""AsyncDB runs the same flows: every fault for these kinds, every kind for these faults."""
CASES = [
    pytest.param(
        kind,
        fault,
        marks=() if kind in ASYNC_KINDS or fault in ASYNC_FAULTS else pytest.mark.sync_only,
    )
    for kind in KINDS
    for fault in FAULTS
    if fault != "unprocessed" or kind == "batch_put"
]


@pytest.mark.parametrize(("kind", "fault"), CASES)
def test_a_write_under_a_transient_fault_is_stored_once_and_reported_as_it_was(
    env: Env, kind: str, fault: str
) -> None:
    pk = f"{kind}-{fault}-{secrets.token_hex(3)}"
    operation, write = KINDS[kind](env, pk)
    env.proxy.disarm()
    env.proxy.arm(operation, fault)
    try:
        check = write()  # no error: the write was applied, and exactly once
        applied = env.proxy.applied.get(operation, 0)
    finally:
        env.proxy.disarm()
    check()
    # A re-send that DynamoDB refused (the token or version proved the first send) may reach it,
    # never more than once per fault.
    assert applied <= 2


AMBIGUOUS = sorted(APPLIED - {"trickle"})


@pytest.mark.parametrize("fault", AMBIGUOUS)
def test_no_answer_ever_is_an_honest_outcome_unknown_and_the_write_lands_at_most_once(
    env: Env, fault: str
) -> None:
    pk = f"never-{fault}-{secrets.token_hex(3)}"
    env.direct.create(VAcct(pk=pk, balance=10))
    obj = env.direct.get(VAcct, pk=pk, consistent=True)
    env.proxy.disarm()
    env.proxy.arm("UpdateItem", fault, times=-1)
    try:
        with pytest.raises(OutcomeUnknown, match="may or may not have been applied") as info:
            env.faulty.update(obj, VAcct.balance.add(5))
    finally:
        env.proxy.disarm()
    assert info.value.operation == "UpdateItem"
    assert info.value.key == {"pk": pk}
    assert info.value.attempts == 4
    stored = env.direct.get(VAcct, pk=pk, consistent=True)
    assert (stored.balance, stored.version) == (15, 1)  # applied by the first send only


def test_a_fault_before_sending_that_never_ends_is_not_an_unknown_outcome(env: Env) -> None:
    pk = f"throttled-{secrets.token_hex(3)}"
    env.direct.create(Acct(pk=pk, balance=10))
    env.proxy.disarm()
    env.proxy.arm("TransactWriteItems", "throttle", times=-1)
    try:
        with pytest.raises(Throttled):
            env.faulty.update(key(Acct, pk=pk), Acct.balance.add(5))
    finally:
        env.proxy.disarm()
    assert env.direct.get(Acct, pk=pk, consistent=True).balance == 10


def test_a_real_conflict_after_a_lost_answer_is_still_a_version_conflict(env: Env) -> None:
    pk = f"conflict-{secrets.token_hex(3)}"
    env.direct.create(VAcct(pk=pk, balance=10))
    mine = env.direct.get(VAcct, pk=pk, consistent=True)
    theirs = env.direct.get(VAcct, pk=pk, consistent=True)
    theirs.balance = 99
    env.direct.save(theirs)  # version 1 is someone else's
    env.proxy.disarm()
    env.proxy.arm("UpdateItem", "5xx_before")
    try:
        mine.balance = 11
        with pytest.raises(VersionConflict):
            env.faulty.save(mine)
    finally:
        env.proxy.disarm()
    assert env.direct.get(VAcct, pk=pk, consistent=True).balance == 99


def test_concurrent_versioned_increments_with_lost_answers_come_out_exact(env: Env) -> None:
    pk = f"counter-{secrets.token_hex(3)}"
    env.direct.create(VAcct(pk=pk, balance=0))
    workers, each = 4, 10
    # 10 faults in all, shared by the threads: with 12 attempts per write, no write can run
    # out of attempts (that would be an honest OutcomeUnknown, tested above).
    faulty = env.connect(env.proxy.url, READ_TIMEOUT, 12)
    env.proxy.disarm()
    env.proxy.arm("UpdateItem", "lose", times=6)
    env.proxy.arm("UpdateItem", "5xx_after", times=4)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(each):
                while True:
                    obj = faulty.get(VAcct, pk=pk, consistent=True)
                    obj.balance += 1
                    try:
                        faulty.save(obj)
                        break
                    except VersionConflict:
                        continue  # the documented "reload and retry"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = env.proxy.applied.get("UpdateItem", 0)
    env.proxy.disarm()
    faulty.close()
    assert errors == []
    assert sent >= workers * each
    stored = env.direct.get(VAcct, pk=pk, consistent=True)
    assert (stored.balance, stored.version) == (workers * each, workers * each)


@pytest.mark.parametrize("operation", ["GetItem", "UpdateItem"])
def test_a_trickling_answer_cannot_hold_a_deadline(env: Env, operation: str) -> None:
    pk = f"trickle-{secrets.token_hex(3)}"
    env.direct.create(Acct(pk=pk, balance=1))
    env.proxy.disarm()
    env.proxy.trickle_delay = 0.02  # ~300 bytes: about 6 s in all
    env.proxy.arm(operation, "trickle", times=-1)
    view = env.faulty.with_deadline(1.0)
    started = time.monotonic()
    try:
        if operation == "GetItem":
            with pytest.raises(DeadlineExceeded):
                view.get(Acct, pk=pk)
        else:
            with pytest.raises(DeadlineOutcomeUnknown):
                view.update(key(Acct, pk=pk), Acct.note.set("late"))
    finally:
        took = time.monotonic() - started
        env.proxy.disarm()
        env.proxy.trickle_delay = 0.001
    assert took < 1.0 + READ_TIMEOUT  # no overrun beyond one read-timeout slice
