"""Decode a MEXC push frame, encode it back, and read control replies.

Run it with ``uv run python docs/examples/decode_frame.py``. Everything here is pure:
the bytes would come from a WebSocket binary frame, the strings from text frames.
"""

from __future__ import annotations

from mexc_core.channels import AggreDepth
from mexc_core.errors import DecodeError
from mexc_core.messages import PublicAggreDepthsV3Api
from mexc_core.wire import (
    Ack,
    SchemaDrift,
    SubscriptionRejected,
    decode_control,
    decode_push,
    encode_push,
    encode_subscription,
)

# [frame]
# Test vector V1 (docs/protocol.rst, "Wire test vectors"): one aggre.depth push, 140 bytes,
# as MEXC's official .proto files and Google's runtime serialise it.
V1 = bytes.fromhex(
    "0a2f73706f74407075626c69632e61676772652e64657074682e76332e6170692e7062403130"
    "306d7340425443555344541a074254435553445430b1d7b4ecdf33ca134812080a0331303012"
    "01341a2773706f74407075626c69632e61676772652e64657074682e76332e6170692e706240"
    "3130306d73220531303032332a05313030323330dcd6b4ecdf33"
)
# [/frame]


def decode_and_reencode() -> None:
    # [decode]
    push = decode_push(V1)
    print(f"channel:    {push.channel}")
    print(f"symbol:     {push.symbol}")
    print(f"send_time:  {push.send_time}")
    print(f"body type:  {type(push.body).__name__}")
    body = push.body
    # push.body is a union of every body record; narrow it before using its fields.
    assert isinstance(body, PublicAggreDepthsV3Api)
    print(f"versions:   {body.from_version}..{body.to_version}")
    for level in body.bids:
        print(f"bid:        {level.price} x {level.quantity}")
    print(f"asks:       {len(body.asks)} levels")
    print(f"last order: {body.last_order_create_time}")
    print(f"unknown:    {push.unknown_fields}")
    # [/decode]

    # [encode]
    again = encode_push(
        push.channel,
        push.body,
        symbol=push.symbol,
        symbol_id=push.symbol_id,
        create_time=push.create_time,
        send_time=push.send_time,
    )
    print(f"re-encoded: {len(again)} bytes, identical to V1: {again == V1}")
    # [/encode]


def schema_drift_and_errors() -> None:
    # [drift]
    # A frame from a newer MEXC schema: V1 plus wrapper field 7 (varint 1), which
    # proto/ does not declare. It still decodes; the field is reported, not dropped.
    newer = V1 + bytes([7 << 3 | 0, 1])
    push = decode_push(newer)
    print(f"unknown:    {push.unknown_fields}")
    drift = SchemaDrift()
    drift.observe(decode_push(V1))
    drift.observe(push)
    print(f"drift:      {drift}")
    # [/drift]

    # [error]
    try:
        decode_push(V1[:100])  # cut inside the body: its length prefix says 72 bytes
    except DecodeError as exc:
        print(f"error:      {exc.reason}")
        print(f"  field:    {exc.field}")
        print(f"  offset:   {exc.offset} of {exc.size}")
        print(f"  excerpt:  {exc.excerpt}")
    # [/error]


def control_frames() -> None:
    # [control]
    topic = AggreDepth(symbol="BTCUSDT")  # interval defaults to 100ms
    request = encode_subscription([str(topic)], request_id=1)
    print(f"request:    {request}")

    ack = decode_control(
        '{"id":1,"code":0,"msg":"spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"}'
    )
    assert isinstance(ack, Ack)
    print(f"ack:        {ack.topics}")

    # MEXC rejects with code 0; only the text says so (note the full-width colon).
    reply = decode_control(
        '{"id":0,"code":0,"msg":"Not Subscribed successfully! '
        '[spot@public.aggre.deals.v3.api.pb@BTCUSDT].  Reason： Blocked! "}'
    )
    match reply:
        case SubscriptionRejected(topics=topics, reason=reason):
            print(f"rejected:   {topics} reason={reason!r}")
        case _:
            raise AssertionError(reply)
    # [/control]


if __name__ == "__main__":
    decode_and_reencode()
    schema_drift_and_errors()
    control_frames()
