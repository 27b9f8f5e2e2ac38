"""The codec example of the README: a subscription request out, a push frame in.

``uv run python docs/examples/codec_quickstart.py``; the frame is test vector V1
(``docs/protocol.rst``, "Wire test vectors"); ``decode_frame.py`` goes further.
"""

# [codec]
from mexc_core import wire
from mexc_core.channels import AggreDepth
from mexc_core.messages import PublicAggreDepthsV3Api

topic = AggreDepth(symbol="BTCUSDT", interval="10ms")
request = wire.encode_subscription([str(topic)])  # send as a text frame
print(request)

frame = bytes.fromhex(  # a binary frame from MEXC
    "0a2f73706f74407075626c69632e61676772652e64657074682e76332e6170692e7062403130"
    "306d7340425443555344541a074254435553445430b1d7b4ecdf33ca134812080a0331303012"
    "01341a2773706f74407075626c69632e61676772652e64657074682e76332e6170692e706240"
    "3130306d73220531303032332a05313030323330dcd6b4ecdf33"
)
push = wire.decode_push(frame)
if isinstance(push.body, PublicAggreDepthsV3Api):  # the body's type follows the channel
    print(push.symbol, push.body.from_version, push.body.last_order_create_time)
# [/codec]
