"""Socket.IO v5 codec: exact wire strings, binary attachments, and malformed input."""

from __future__ import annotations

import pytest
import socketio.packet as ps_packet

from realtime.server.protocol import Decoder as ReexportedDecoder
from realtime.server.protocol import SocketIOPacket, engineio
from realtime.server.protocol.socketio import Packet, PacketType, ProtocolError, encode_event
from realtime.server.protocol.socketio_decoder import Decoder

PH0 = {"_placeholder": True, "num": 0}


def decode(text: str, *attachments: bytes, decoder: Decoder | None = None) -> Packet:
    """Feed a header plus attachments; the last message must complete the packet."""
    decoder = decoder or Decoder()
    messages: list[str | bytes] = [text, *attachments]
    for message in messages[:-1]:
        assert decoder.feed(message) is None
        assert decoder.pending
    packet = decoder.feed(messages[-1])
    assert packet is not None
    assert not decoder.pending
    return packet


def decode_all(messages: list[str | bytes]) -> Packet:
    return decode(messages[0], *messages[1:])  # type: ignore[arg-type]


# (packet, wire text) for every non-binary type; each is checked in both directions.
TEXT_CASES = [
    (Packet(PacketType.CONNECT), "0"),
    (Packet(PacketType.CONNECT, data={"token": "abc"}), '0{"token":"abc"}'),
    (Packet(PacketType.CONNECT, data={"sid": "x"}), '0{"sid":"x"}'),
    (
        Packet(PacketType.CONNECT, "/admin", {"sid": "x", "pid": "y"}),
        '0/admin,{"sid":"x","pid":"y"}',
    ),
    (Packet(PacketType.CONNECT, "/admin"), "0/admin,"),
    (Packet(PacketType.DISCONNECT), "1"),
    (Packet(PacketType.DISCONNECT, "/custom"), "1/custom,"),
    (Packet(PacketType.EVENT, data=["hello", 1]), '2["hello",1]'),
    (Packet(PacketType.EVENT, data=["hello"]), '2["hello"]'),
    (Packet(PacketType.EVENT, data=["hello", 1], id=12), '212["hello",1]'),
    (
        Packet(PacketType.EVENT, "/custom", ["hello", {"a": [1, None, True]}]),
        '2/custom,["hello",{"a":[1,null,true]}]',
    ),
    (Packet(PacketType.EVENT, "/custom", ["hello"], 0), '2/custom,0["hello"]'),
    (Packet(PacketType.EVENT, data=["héllo", "✓ 😀"]), '2["héllo","✓ 😀"]'),
    (Packet(PacketType.ACK, data=["ok"], id=12), '312["ok"]'),
    (Packet(PacketType.ACK, data=[], id=1), "31[]"),
    (Packet(PacketType.ACK, "/custom", ["ok"], 12), '3/custom,12["ok"]'),
    (
        Packet(PacketType.CONNECT_ERROR, data={"message": "Not authorized"}),
        '4{"message":"Not authorized"}',
    ),
    (Packet(PacketType.CONNECT_ERROR, "/x", "plain string"), '4/x,"plain string"'),
]
TEXT_IDS = [text for _, text in TEXT_CASES]


@pytest.mark.parametrize(("packet", "text"), TEXT_CASES, ids=TEXT_IDS)
def test_text_packet_encodes_to_exact_wire_text(packet, text):
    assert packet.encode() == [text]


@pytest.mark.parametrize(("packet", "text"), TEXT_CASES, ids=TEXT_IDS)
def test_text_packet_decodes_from_wire_text(packet, text):
    assert decode(text) == packet


def test_packet_type_values_are_the_wire_digits():
    assert [(t.name, t.value) for t in PacketType] == [
        ("CONNECT", 0),
        ("DISCONNECT", 1),
        ("EVENT", 2),
        ("ACK", 3),
        ("CONNECT_ERROR", 4),
        ("BINARY_EVENT", 5),
        ("BINARY_ACK", 6),
    ]


def test_json_keeps_insertion_order_and_is_compact():
    data = ["e", {"z": 1, "a": {"y": 2, "b": 3}}, [1.5, "x y"]]
    assert Packet(PacketType.EVENT, data=data).encode() == [
        '2["e",{"z":1,"a":{"y":2,"b":3}},[1.5,"x y"]]'
    ]


def test_tuples_encode_as_arrays():
    assert Packet(PacketType.EVENT, data=("e", (1, 2))).encode() == ['2["e",[1,2]]']


def test_unserialisable_data_is_a_type_error():
    with pytest.raises(TypeError):
        Packet(PacketType.EVENT, data=["e", object()]).encode()
    with pytest.raises(TypeError):
        encode_event("/", "e", {1: "non-str key"})


def test_binary_data_in_connect_is_a_type_error():
    with pytest.raises(TypeError):
        Packet(PacketType.CONNECT, data={"blob": b"x"}).encode()


# -- namespaces ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "namespace", "data"),
    [
        ("0/custom", "/custom", None),
        ("0/custom,", "/custom", None),
        ('0/custom,{"token":"abc"}', "/custom", {"token": "abc"}),
        ('0{"token":"abc"}', "/", {"token": "abc"}),
        ("0/a/b-c_d.e", "/a/b-c_d.e", None),
    ],
)
def test_connect_namespace_forms_all_parse(text, namespace, data):
    assert decode(text) == Packet(PacketType.CONNECT, namespace, data)


def test_namespace_is_written_with_a_comma_even_when_nothing_follows():
    # Matches the JS encoder, which appends "," after any namespace other than "/".
    assert Packet(PacketType.DISCONNECT, "/custom").encode() == ["1/custom,"]


@pytest.mark.parametrize("namespace", ["custom", "", "/a,b"])
def test_invalid_namespace_is_refused_at_construction(namespace):
    with pytest.raises(ValueError, match="namespace"):
        Packet(PacketType.EVENT, namespace, ["e"])


def test_disconnect_from_namespace_parses_with_and_without_comma():
    assert decode("1/custom,") == Packet(PacketType.DISCONNECT, "/custom")
    assert decode("1/custom") == Packet(PacketType.DISCONNECT, "/custom")


# -- ack ids -------------------------------------------------------------------------------


def test_ack_id_follows_the_namespace_directly():
    assert decode('2/chat,42["m"]') == Packet(PacketType.EVENT, "/chat", ["m"], 42)


def test_ack_id_with_max_digits_is_accepted():
    assert decode('29999999999["m"]').id == 9999999999


def test_ack_id_longer_than_max_digits_is_refused():
    with pytest.raises(ProtocolError, match="ack id longer than 10 digits"):
        Decoder().feed('212345678901["m"]')
    assert Decoder(max_ack_id_digits=11).feed('212345678901["m"]').id == 12345678901


def test_ack_id_digits_limit_applies_to_acks_too():
    with pytest.raises(ProtocolError, match="ack id longer than 3 digits"):
        Decoder(max_ack_id_digits=3).feed("31234[]")


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_invalid_ack_id_is_refused_at_construction(bad):
    with pytest.raises(ValueError, match="ack id"):
        Packet(PacketType.ACK, data=[], id=bad)


def test_plain_int_type_is_normalised():
    assert Packet(2, data=["e"]).type is PacketType.EVENT


# -- encode_event ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("/", "hello"), {}, ['2["hello"]']),
        (("/", "hello", 1, "two", {"three": 3}), {}, ['2["hello",1,"two",{"three":3}]']),
        (("/", "hello", 1), {"ack_id": 7}, ['27["hello",1]']),
        (("/custom", "hello", [1]), {}, ['2/custom,["hello",[1]]']),
        (("/custom", "hello"), {"ack_id": 0}, ['2/custom,0["hello"]']),
    ],
)
def test_encode_event_matches_packet_encode(args, kwargs, expected):
    namespace, event, *rest = args
    assert encode_event(*args, **kwargs) == expected
    packet = Packet(PacketType.EVENT, namespace, [event, *rest], kwargs.get("ack_id"))
    assert packet.encode() == expected


def test_encode_event_with_bytes_becomes_binary_event():
    assert encode_event("/", "m", b"\x01", ack_id=3) == [
        '51-3["m",{"_placeholder":true,"num":0}]',
        b"\x01",
    ]
    assert encode_event("/ns", "m", {"f": bytearray(b"\x02")}) == [
        '51-/ns,["m",{"f":{"_placeholder":true,"num":0}}]',
        b"\x02",
    ]


def test_encode_event_refuses_bad_arguments():
    with pytest.raises(TypeError, match="event name"):
        encode_event("/", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="namespace"):
        encode_event("nope", "e")
    with pytest.raises(ValueError, match="ack id"):
        encode_event("/", "e", ack_id=-1)


# -- binary packets -------------------------------------------------------------------------


def test_event_with_top_level_bytes_becomes_binary_event():
    packet = Packet(PacketType.EVENT, data=["m", b"\x00\xff"])
    assert packet.encode() == ['51-["m",{"_placeholder":true,"num":0}]', b"\x00\xff"]


def test_event_with_nested_bytes_becomes_binary_event():
    data = ["upload", {"meta": {"name": "a.bin"}, "chunks": [b"one", {"deep": [b"two"]}]}, b"three"]
    messages = Packet(PacketType.EVENT, "/files", data, 5).encode()
    assert messages == [
        '53-/files,5["upload",{"meta":{"name":"a.bin"},"chunks":[{"_placeholder":true,"num":0},'
        '{"deep":[{"_placeholder":true,"num":1}]}]},{"_placeholder":true,"num":2}]',
        b"one",
        b"two",
        b"three",
    ]
    assert decode_all(messages) == Packet(PacketType.EVENT, "/files", data, 5)


def test_ack_with_bytes_becomes_binary_ack():
    messages = Packet(PacketType.ACK, data=[{"file": b"\x01\x02"}, "ok"], id=9).encode()
    assert messages == ['61-9[{"file":{"_placeholder":true,"num":0}},"ok"]', b"\x01\x02"]
    assert decode_all(messages) == Packet(PacketType.ACK, data=[{"file": b"\x01\x02"}, "ok"], id=9)


def test_binary_ack_in_namespace_round_trips():
    packet = Packet(PacketType.ACK, "/ns", [b"a", [b"b"]], 1)
    messages = packet.encode()
    assert messages[0] == (
        '62-/ns,1[{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]]'
    )
    assert decode_all(messages) == packet


@pytest.mark.parametrize("blob", [bytearray(b"xy"), memoryview(b"xy")], ids=type)
def test_bytearray_and_memoryview_become_bytes_attachments(blob):
    messages = Packet(PacketType.EVENT, data=["m", blob]).encode()
    assert messages[1] == b"xy" and type(messages[1]) is bytes


def test_many_attachments_keep_document_order():
    blobs = [bytes([i]) for i in range(10)]
    messages = encode_event("/", "m", *blobs)
    assert messages[1:] == blobs
    assert messages[0].startswith('510-["m",{"_placeholder":true,"num":0},')
    assert decode_all(messages).data == ["m", *blobs]


def test_explicit_binary_event_type_writes_attachment_count_even_without_bytes():
    assert Packet(PacketType.BINARY_EVENT, data=["m", 1]).encode() == ['50-["m",1]']


def test_decoded_binary_packets_come_back_as_event_and_ack():
    assert decode('51-["m",{"_placeholder":true,"num":0}]', b"x").type is PacketType.EVENT
    assert decode('61-1[{"_placeholder":true,"num":0}]', b"x").type is PacketType.ACK


def test_binary_event_with_zero_attachments_completes_immediately():
    assert decode('50-["m",1]') == Packet(PacketType.EVENT, data=["m", 1])


def test_placeholders_reuse_the_same_attachment():
    data = decode(
        '51-["m",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":0}]]', b"z"
    ).data
    assert data == ["m", b"z", [b"z"]]


def test_placeholder_in_non_binary_event_is_left_alone():
    assert decode('2["m",{"_placeholder":true,"num":0}]').data == ["m", PH0]


def test_false_placeholder_flag_is_plain_data():
    data = decode(
        '51-["m",{"_placeholder":false,"num":7},{"_placeholder":true,"num":0}]', b"q"
    ).data
    assert data == ["m", {"_placeholder": False, "num": 7}, b"q"]


def test_decoder_handles_consecutive_packets():
    decoder = Decoder()
    assert decoder.feed('51-["a",{"_placeholder":true,"num":0}]') is None
    assert decoder.feed(b"1") == Packet(PacketType.EVENT, data=["a", b"1"])
    assert decoder.feed('2["b"]') == Packet(PacketType.EVENT, data=["b"])
    assert decoder.feed('62-3[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]') is None
    assert decoder.feed(b"first") is None
    assert decoder.pending
    assert decoder.feed(memoryview(b"second")) == Packet(
        PacketType.ACK, data=[b"second", b"first"], id=3
    )
    assert not decoder.pending


# -- malformed input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty Socket.IO packet"),
        ("7", "unknown Socket.IO packet type '7'"),
        ("x2[]", "unknown Socket.IO packet type 'x'"),
        ("42[]", "CONNECT_ERROR payload must be a JSON object or string"),
        ("0abc", "invalid JSON payload in CONNECT"),
        ("4abc", "invalid JSON payload in CONNECT_ERROR"),
        ('2abc["x"]', "invalid JSON payload in EVENT"),
        ('2["x"', "invalid JSON payload in EVENT"),
        ("2{}", "EVENT payload must be a non-empty JSON array"),
        ("2[]", "EVENT payload must be a non-empty JSON array"),
        ("2[1]", "EVENT payload must be a non-empty JSON array"),
        ('2"x"', "EVENT payload must be a non-empty JSON array"),
        ("2", "EVENT payload must be a non-empty JSON array"),
        ("2/ns,", "EVENT payload must be a non-empty JSON array"),
        ("0[]", "CONNECT payload must be a JSON object"),
        ('0"x"', "CONNECT payload must be a JSON object"),
        ("0null", "CONNECT payload must be a JSON object"),
        ("1{}", "DISCONNECT packet must not carry a payload"),
        ("1/ns,null", "DISCONNECT packet must not carry a payload"),
        ("3[]", "ACK packet has no ack id"),
        ("31{}", "ACK payload must be a JSON array"),
        ("31", "ACK payload must be a JSON array"),
        ("4", "CONNECT_ERROR payload must be a JSON object or string"),
        ("4[1]", "CONNECT_ERROR payload must be a JSON object or string"),
        ('5["m"]', "BINARY_EVENT must start with the attachment count"),
        ('5-["m"]', "BINARY_EVENT must start with the attachment count"),
        ('5a-["m"]', "BINARY_EVENT must start with the attachment count"),
        ("51", "BINARY_EVENT must start with the attachment count"),
        ('6x-1["m"]', "BINARY_ACK must start with the attachment count"),
        ('511-["m"]', "too many attachments: 11 > 10"),
        ('599999999999999999999-["m"]', "too many attachments"),
        ("51-[]", "EVENT payload must be a non-empty JSON array"),
        ("61-{}", "ACK packet has no ack id"),
        ('2²["x"]', "invalid JSON payload"),
    ],
    ids=repr,
)
def test_malformed_packet_raises_protocol_error(text, message):
    with pytest.raises(ProtocolError, match=message):
        Decoder().feed(text)


def test_engineio_message_4abc_is_refused_at_the_socketio_layer():
    # The server strips the Engine.IO "4", so the Socket.IO decoder sees "abc".
    message = engineio.Packet.decode_websocket("4abc")
    with pytest.raises(ProtocolError, match="unknown Socket.IO packet type 'a'"):
        Decoder().feed(message.data)


def test_non_numeric_ack_id_is_refused():
    with pytest.raises(ProtocolError, match="invalid JSON payload in EVENT"):
        Decoder().feed('2abc["x"]')


def test_attachment_limit_is_configurable():
    assert Decoder(max_attachments=2).feed('52-["m"]') is None
    with pytest.raises(ProtocolError, match="too many attachments: 3 > 2"):
        Decoder(max_attachments=2).feed('53-["m"]')
    with pytest.raises(ProtocolError, match="too many attachments"):
        Decoder(max_attachments=0).feed('51-["m"]')


def test_unexpected_attachment_raises_protocol_error():
    with pytest.raises(ProtocolError, match="no binary packet is pending"):
        Decoder().feed(b"surprise")


def test_attachment_after_completed_packet_raises_protocol_error():
    decoder = Decoder()
    decoder.feed('51-["m",{"_placeholder":true,"num":0}]')
    decoder.feed(b"1")
    with pytest.raises(ProtocolError, match="no binary packet is pending"):
        decoder.feed(b"2")


def test_text_while_attachments_are_pending_raises_and_resets():
    decoder = Decoder()
    decoder.feed('52-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    decoder.feed(b"1")
    with pytest.raises(ProtocolError, match="waiting for 1 binary attachment"):
        decoder.feed('2["x"]')
    assert not decoder.pending


@pytest.mark.parametrize(
    "placeholder",
    [
        '{"_placeholder":true,"num":1}',
        '{"_placeholder":true,"num":-1}',
        '{"_placeholder":true,"num":"0"}',
        '{"_placeholder":true,"num":0.0}',
        '{"_placeholder":true,"num":true}',
        '{"_placeholder":true}',
    ],
)
def test_placeholder_out_of_range_or_not_int_raises_protocol_error(placeholder):
    decoder = Decoder()
    assert decoder.feed(f'51-["m",{placeholder}]') is None
    with pytest.raises(ProtocolError, match="placeholder num"):
        decoder.feed(b"x")
    assert not decoder.pending


def test_placeholder_with_zero_attachments_raises_protocol_error():
    with pytest.raises(ProtocolError, match="placeholder num 0"):
        Decoder().feed('50-["m",{"_placeholder":true,"num":0}]')


def test_binary_payload_at_the_json_depth_limit_is_reconstructed():
    # Outer array + 1021 arrays + the placeholder object = 1023, the deepest orjson accepts.
    depth = 1021
    text = '51-["m",' + "[" * depth + '{"_placeholder":true,"num":0}' + "]" * depth + "]"
    data = decode(text, b"x").data
    for _ in range(depth):
        data = data[-1]
    assert data == [b"x"]


def test_binary_payload_beyond_the_json_depth_limit_raises_protocol_error():
    depth = 1100
    with pytest.raises(ProtocolError, match="invalid JSON payload"):
        Decoder().feed('51-["m",' + "[" * depth + "]" * depth + "]")


def test_reserved_event_names_are_not_the_codecs_concern():
    assert decode('2["connect"]').data == ["connect"]


def test_feeding_other_types_is_a_type_error():
    with pytest.raises(TypeError):
        Decoder().feed(42)  # type: ignore[arg-type]


def test_protocol_error_is_shared_with_engineio():
    assert ProtocolError is engineio.ProtocolError


# -- connect_error -----------------------------------------------------------------------


def test_connect_error_for_unknown_namespace():
    packet = Packet.connect_error("/nope", "Invalid namespace")
    assert packet.encode() == ['4/nope,{"message":"Invalid namespace"}']
    assert decode(packet.encode()[0]) == packet


def test_connect_error_with_data():
    packet = Packet.connect_error("/", "Not authorized", {"code": 401})
    assert packet.encode() == ['4{"message":"Not authorized","data":{"code":401}}']


# -- cross-checks against python-socketio ---------------------------------------------------


@pytest.mark.parametrize(
    ("ptype", "namespace", "data", "ack_id"),
    [
        (ps_packet.CONNECT, "/", {"sid": "abc"}, None),
        (ps_packet.CONNECT, "/admin", None, None),
        (ps_packet.DISCONNECT, "/admin", None, None),
        (ps_packet.EVENT, "/", ["hello", 1, {"a": [True, None]}], None),
        (ps_packet.EVENT, "/custom", ["hello"], 12),
        (ps_packet.ACK, "/custom", ["ok"], 12),
        (ps_packet.CONNECT_ERROR, "/", {"message": "nope"}, None),
        (ps_packet.EVENT, "/", ["m", {"f": b"\x01"}, [b"\x02"]], 4),
        (ps_packet.ACK, "/ns", [b"\x01", b"\x02"], 4),
    ],
)
def test_encoding_matches_python_socketio(ptype, namespace, data, ack_id):
    # ASCII data only: python-socketio escapes non-ASCII (ensure_ascii), the JS encoder does not.
    reference = ps_packet.Packet(ptype, data=data, namespace=namespace, id=ack_id).encode()
    if isinstance(reference, str):
        reference = [reference]
    assert Packet(PacketType(ptype), namespace, data, ack_id).encode() == reference


def test_python_socketio_binary_encoding_decodes_identically():
    data = ["m", {"f": b"\x01"}, [b"\x02", "x"]]
    messages = ps_packet.Packet(ps_packet.EVENT, data=data, namespace="/n", id=3).encode()
    assert decode_all(messages) == Packet(PacketType.EVENT, "/n", data, 3)


def test_package_reexports_the_socketio_names():
    assert SocketIOPacket is Packet
    assert ReexportedDecoder is Decoder
