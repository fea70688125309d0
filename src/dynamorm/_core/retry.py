"""Retry policy as data: exponential backoff with full jitter, bounded by attempts and deadline."""

from __future__ import annotations

from dynamorm._core.errors import ConfigurationError, DeadlineExceeded

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    import random


class RetryPolicy:
    """How often and how long to wait before retrying a retryable failure.

    The n-th retry waits a random time in ``[0, min(max_delay, base_delay * 2**n))`` (full jitter).
    ``delay()`` returns ``None`` when no retry may start: attempts are spent, or the wait would end
    past the deadline.
    """

    __slots__ = ("_rng", "base_delay", "max_attempts", "max_delay")

    def __init__(
        self,
        max_attempts: int = 8,
        *,
        base_delay: float = 0.025,
        max_delay: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        if not base_delay >= 0 or not max_delay >= base_delay:
            raise ConfigurationError(
                f"need 0 <= base_delay <= max_delay, got {base_delay!r} and {max_delay!r}"
            )
        self.max_attempts: int = max_attempts
        self.base_delay: float = float(base_delay)
        self.max_delay: float = float(max_delay)
        self._rng = rng  # made on the first retry: ``random`` is not imported on a cold start

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0 for the first retry), with full jitter."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** min(retry, 62)))
        if self._rng is None:
            import random

            self._rng = random.Random()
        return self._rng.uniform(0.0, ceiling)

    def delay(self, attempts_made: int, remaining: float | None = None) -> float | None:
        """The wait before the next attempt, or ``None`` if no further attempt may start.

        ``remaining`` is the time left before the deadline (``None``: no deadline).
        """
        if attempts_made >= self.max_attempts:
            return None
        wait = self.backoff(attempts_made - 1)
        if remaining is not None and wait >= remaining:
            return None
        return wait

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, base_delay={self.base_delay}, "
            f"max_delay={self.max_delay})"
        )


NO_RETRY = RetryPolicy(1)


def delay_or_raise(
    policy: RetryPolicy, attempts: int, remaining: float | None, error: Exception, what: str
) -> float:
    """The wait before retrying after ``error``; when no retry may start, ``DeadlineExceeded``
    (``what`` names the request) if attempts remain but the deadline does not, else ``error``."""
    wait = policy.delay(attempts, remaining)
    if wait is None:
        if remaining is not None and attempts < policy.max_attempts:
            raise DeadlineExceeded(
                f"{what}: deadline leaves no time to retry after {attempts} attempt(s); "
                f"last error: {error}",
                last_error=error,
            ) from error
        raise error
    return wait
