"""What the service handed out and must find again: explanations behind links, cards for feedback.

A card links to the full explanation of its screening. The EHR opens that link in a browser,
which carries no token, so the link itself is the credential: an unguessable token, valid for a
limited time, held in this process's memory only (never written to disk; a restart forgets it).
Cards are remembered the same way, so that feedback on a card can say which trials it was about.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from typing import Generic, TypeVar

from ..results import CaseResult
from .cards import IssuedCard

T = TypeVar("T")


class Expiring(Generic[T]):
    """A bounded mapping whose entries vanish after ``ttl`` seconds, oldest dropped first."""

    def __init__(self, ttl: float, capacity: int) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def put(self, key: str, value: T) -> None:
        self._expire()
        self._items[key] = (time.monotonic() + self.ttl, value)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, key: str) -> T | None:
        self._expire()
        item = self._items.get(key)
        return item[1] if item is not None else None

    def _expire(self) -> None:
        now = time.monotonic()
        while self._items:
            key, (deadline, _) = next(iter(self._items.items()))
            if deadline > now:
                return
            del self._items[key]


class Issued:
    """Screening results by link token (explained when the link is opened), cards by uuid."""

    def __init__(self, ttl: float = 3600.0, capacity: int = 10_000) -> None:
        self.explanations: Expiring[CaseResult] = Expiring(ttl, capacity)
        self.cards: Expiring[IssuedCard] = Expiring(ttl * 24, capacity * 4)

    def keep_explanation(self, result: CaseResult) -> str:
        token = secrets.token_urlsafe(24)
        self.explanations.put(token, result)
        return token

    def keep_cards(self, cards: list[IssuedCard]) -> None:
        for card in cards:
            self.cards.put(card.card, card)
