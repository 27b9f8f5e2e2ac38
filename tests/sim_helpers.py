"""Shared helpers of the simulator tests: a recording subscriber and a naive book."""

from __future__ import annotations

from decimal import Decimal

from mexc_core import wire
from mexc_core.events import Push
from mexc_core.messages import PublicAggreDepthsV3Api
from mexc_sim.market import BookSnapshot, MarketSpec


class FrameRecorder:
    """A subscriber that keeps every frame the exchange delivers."""

    def __init__(self, sid: int = 1) -> None:
        self.sid = sid
        self.frames: list[tuple[float, str, bytes]] = []
        self.invalidated: list[float] = []

    def deliver(self, topic: str, frame: bytes, now: float) -> None:
        self.frames.append((now, topic, frame))

    def listen_key_invalidated(self, now: float) -> None:
        self.invalidated.append(now)

    def pushes(self, topic: str | None = None) -> list[Push]:
        return [wire.decode_push(f) for _n, t, f in self.frames if topic is None or t == topic]


class NaiveBook:
    """The order book a client keeps: price text -> quantity text, per side."""

    def __init__(self, bids: list[list[str]], asks: list[list[str]], version: int) -> None:
        self.bids = {Decimal(p): Decimal(q) for p, q in bids}
        self.asks = {Decimal(p): Decimal(q) for p, q in asks}
        self.version = version

    def apply(self, body: PublicAggreDepthsV3Api) -> None:
        for side, items in ((self.bids, body.bids), (self.asks, body.asks)):
            for item in items:
                price, qty = Decimal(item.price), Decimal(item.quantity)
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)
        self.version = int(body.to_version)

    def as_levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


def truth_levels(
    book: BookSnapshot, spec: MarketSpec
) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """A true book in the same terms as :meth:`NaiveBook.as_levels`."""

    def side(levels: tuple[tuple[int, int], ...]) -> list[tuple[Decimal, Decimal]]:
        return [(Decimal(spec.price_text(p)), Decimal(spec.quantity_text(q))) for p, q in levels]

    return side(book.bids), side(book.asks)
