"""Golden push frames (tests/vectors/push_frames.json): decode, encode, and stay current."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from codegen import oracle
from mexc_core import wire
from mexc_core.events import Event, Push
from mexc_core.messages import FIELDS, RECORD_TYPES, Record
from tests.vectors.make_vectors import SPEC_HEX

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "vectors" / "push_frames.json").read_text(encoding="utf-8")
)
IDS = [v["name"] for v in VECTORS]


def _record(record_type: type[Record], values: dict[str, Any]) -> Record:
    out: dict[str, Any] = {}
    for info in FIELDS[record_type]:
        value = values[info.attr]
        if info.kind == "message":
            assert info.message is not None
            item_type = RECORD_TYPES[info.message]
            out[info.attr] = tuple(_record(item_type, item) for item in value)
        else:
            out[info.attr] = value
    return record_type(**out)


def _push(expected: dict[str, Any]) -> Push:
    body = _record(RECORD_TYPES[expected["body_type"]], expected["body"])
    return Push(
        channel=expected["channel"],
        body=body,  # type: ignore[arg-type]
        symbol=expected["symbol"],
        symbol_id=expected["symbol_id"],
        create_time=expected["create_time"],
        send_time=expected["send_time"],
    )


def test_every_body_type_has_a_vector() -> None:
    assert {v["expected"]["body_type"] for v in VECTORS} == {
        f.message for f in __import__("mexc_core.messages").messages.BODY_FIELDS
    }


def test_the_spec_vectors_are_included_verbatim() -> None:
    by_name = {v["name"]: v["hex"] for v in VECTORS}
    assert {name: by_name[name] for name in SPEC_HEX} == SPEC_HEX


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_decode(vector: dict[str, Any]) -> None:
    push = wire.decode_push(bytes.fromhex(vector["hex"]))
    assert wire.push_as_dict(push) == vector["expected"]
    assert push == _push(vector["expected"])
    assert push.unknown_fields == ()


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_encode_gives_the_same_bytes(vector: dict[str, Any]) -> None:
    push = _push(vector["expected"])
    data = wire.encode_push(
        push.channel,
        push.body,
        symbol=push.symbol,
        symbol_id=push.symbol_id,
        create_time=push.create_time,
        send_time=push.send_time,
    )
    assert data.hex() == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_google_still_writes_these_bytes(vector: dict[str, Any]) -> None:
    wrapper = oracle.classes()["PushDataV3ApiWrapper"]()
    json_format.ParseDict(vector["proto_json"], wrapper)
    assert wrapper.SerializeToString().hex() == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_decode_in_a_bytearray_and_a_memoryview(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    expected = wire.decode_push(raw)
    assert wire.decode_push(bytearray(raw)) == expected
    assert wire.decode_push(memoryview(raw)) == expected


def test_spec_sample_field_values() -> None:
    """The June 2026 fields, read by name, as MEXC's 2026 samples give them."""
    v1 = wire.decode_push(bytes.fromhex(SPEC_HEX["spec_v1_aggre_depth"]))
    assert v1.channel == "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
    assert (v1.symbol, v1.symbol_id, v1.create_time, v1.send_time) == (
        "BTCUSDT",
        None,
        None,
        1778075380657,
    )
    body = v1.body
    assert type(body).__name__ == "PublicAggreDepthsV3Api"
    assert body.from_version == "10023"  # type: ignore[union-attr]
    assert body.to_version == "10023"  # type: ignore[union-attr]
    assert body.last_order_create_time == 1778075380572  # type: ignore[union-attr]
    assert body.asks == ()  # type: ignore[union-attr]
    deals = {v["name"]: v for v in VECTORS}["aggre_deals_with_trade_ids"]
    push = wire.decode_push(bytes.fromhex(deals["hex"]))
    assert push.body.deals[1].trade_id == "605979017439002625"  # type: ignore[union-attr]


def test_push_is_an_immutable_event_that_pickles() -> None:
    push = wire.decode_push(bytes.fromhex(SPEC_HEX["spec_v1_aggre_depth"]))
    assert isinstance(push, Event)
    assert not hasattr(push, "__dict__")
    with pytest.raises(AttributeError):
        push.symbol = "ETHUSDT"  # type: ignore[misc]
    for again in (pickle.loads(pickle.dumps(push)), copy.deepcopy(push), copy.copy(push)):
        assert again == push
        assert type(again) is Push
    assert push._replace(symbol="ETHUSDT").symbol == "ETHUSDT"
    with pytest.raises(TypeError):
        Push("positional", push.body)  # type: ignore[call-arg]
    assert hash(push) == hash(wire.decode_push(bytes.fromhex(SPEC_HEX["spec_v1_aggre_depth"])))
