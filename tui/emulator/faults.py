"""Faults on demand, deterministic by seed.

A spec string is a comma-separated list: ``seed=N`` and ``KIND=PROBABILITY[:option=value...]``, e.g.
``seed=7,429=0.2:retry=1,503=0.1,reset=0.05,slow=0.1:delay=2,propagation=30``.

Kinds: ``429`` and ``503`` (with ``Retry-After``, option ``retry`` seconds, default 1), ``500``, ``html`` (a 502
whose body is an HTML page, not JSON), ``reset`` (connection reset after the request, before any response),
``reset_mid`` (reset after the headers and part of the body), ``reset_upload`` (reset while the client is still
sending its body), ``slow`` (answer after ``delay`` seconds, default 2). Two items are not probabilities:
``propagation=S`` (after each photo change, GET keeps serving the previous photo for S seconds) and
``concurrency=N`` (more than N requests in flight for one mailbox get 429 ``ApplicationThrottled``; Exchange allows
about 4).

Options for every kind: ``path`` (substring of the request path), ``method``. Without ``path`` a fault applies to
Graph requests (``/v1.0/...``) only, never to sign-in. One random draw per Graph request picks at most one fault, so
the same seed and the same request sequence give the same faults.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from tui.core.errors import UsageError

KINDS = ("429", "503", "500", "html", "reset", "reset_mid", "reset_upload", "slow")


@dataclass(frozen=True)
class Fault:
    kind: str
    probability: float = 1.0
    retry_after: float = 1
    delay: float = 2.0
    path: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return (self.path in path) if self.path else path.startswith("/v1.0/")


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"invalid fault spec: {what} {text!r} is not a number") from None
    if value < 0:
        raise UsageError(f"invalid fault spec: {what} must not be negative")
    return value


@dataclass
class Spec:
    seed: int = 0
    faults: list[Fault] = field(default_factory=list)
    propagation: float = 0.0
    concurrency: int = 0  # 0: no limit


def parse(spec: str) -> Spec:
    """Parse a spec string; raise UsageError with the bad part named."""
    out = Spec()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        head, *options = item.split(":")
        name, sep, value = head.partition("=")
        name = name.strip().lower().replace("-", "_")
        if not sep:
            raise UsageError(f"invalid fault spec item {item!r}: expected KIND=PROBABILITY (e.g. 429=0.2)")
        if name in {"seed", "concurrency"}:
            setattr(out, name, int(_number(value, name)))
            continue
        if name == "propagation":
            out.propagation = _number(value, name)
            continue
        if name not in KINDS:
            known = ", ".join(("seed", "propagation", "concurrency", *KINDS))
            raise UsageError(f"invalid fault spec: unknown kind {name!r}; known: {known}")
        fault = Fault(name, _number(value, name))
        if fault.probability > 1:
            raise UsageError(f"invalid fault spec: probability for {name} must be between 0 and 1")
        for option in options:
            key, _, val = option.partition("=")
            key = {"retry": "retry_after", "retry_after": "retry_after"}.get(key.strip(), key.strip())
            if key in {"retry_after", "delay"}:
                fault = replace(fault, **{key: _number(val, key)})
            elif key in {"path", "method"}:
                fault = replace(fault, **{key: val.strip()})
            else:
                raise UsageError(f"invalid fault spec: unknown option {key!r} in {item!r}")
        out.faults.append(fault)
    return out


class Faults:
    """Holds the probabilistic faults, the targeted one-shots and the propagation delay."""

    def __init__(self, spec: str | None = None, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.set(spec or "", default_seed=seed)

    def set(self, spec: str, *, default_seed: int | None = None) -> None:
        parsed = parse(spec)
        if "seed=" not in spec.replace(" ", "") and default_seed is not None:
            parsed.seed = default_seed
        with self._lock:
            self.spec = spec
            self._rng = random.Random(parsed.seed)
            self._random = parsed.faults
            self._targeted: list[list] = []  # [fault, remaining count]
            self.propagation = parsed.propagation
            self.concurrency = parsed.concurrency
            self._in_flight: dict[str, int] = {}

    def clear(self) -> None:
        self.set("", default_seed=0)

    def add(self, fault: Fault, count: int = 1) -> None:
        with self._lock:
            self._targeted.append([fault, count])

    def pick(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for entry in self._targeted:
                if entry[1] > 0 and entry[0].matches(method, path):
                    entry[1] -= 1
                    return entry[0]
            candidates = [f for f in self._random if f.matches(method, path)]
            if not candidates:
                return None
            draw, total = self._rng.random(), 0.0
            for fault in candidates:
                total += fault.probability
                if draw < total:
                    return fault
            return None

    @contextmanager
    def mailbox_slot(self, mailbox: str) -> Iterator[bool]:
        """Count a request in flight for ``mailbox``; yields False when it is over the concurrency limit."""
        with self._lock:
            busy = self._in_flight.get(mailbox, 0)
            admitted = not self.concurrency or busy < self.concurrency
            if admitted:
                self._in_flight[mailbox] = busy + 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self._in_flight[mailbox] -= 1

    def in_flight(self) -> int:
        """Requests holding a mailbox slot right now (counted only while a concurrency limit is set)."""
        with self._lock:
            return sum(self._in_flight.values())
