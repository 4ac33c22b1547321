"""Engine.IO v4 codec: exact wire strings, both directions, and malformed input."""

from __future__ import annotations

import base64

import engineio.packet as pe_packet
import engineio.payload as pe_payload
import pytest

from realtime.server.protocol import engineio as eio
from realtime.server.protocol.engineio import (
    SEPARATOR,
    Packet,
    PacketType,
    ProtocolError,
    decode_payload,
    encode_payload,
    open_packet,
)

# (packet, websocket/polling text) pairs for every text packet type.
TEXT_CASES = [
    (Packet(PacketType.OPEN, '{"sid":"abc"}'), '0{"sid":"abc"}'),
    (Packet(PacketType.CLOSE), "1"),
    (Packet(PacketType.PING), "2"),
    (Packet(PacketType.PING, "probe"), "2probe"),
    (Packet(PacketType.PONG), "3"),
    (Packet(PacketType.PONG, "probe"), "3probe"),
    (Packet(PacketType.MESSAGE, "hello"), "4hello"),
    (Packet(PacketType.MESSAGE, '2["ev",{"a":1}]'), '42["ev",{"a":1}]'),
    (Packet(PacketType.MESSAGE, ""), "4"),
    (Packet(PacketType.MESSAGE, "héllo ✓ 😀"), "4héllo ✓ 😀"),
    (Packet(PacketType.UPGRADE), "5"),
    (Packet(PacketType.NOOP), "6"),
]
TEXT_IDS = [text for _, text in TEXT_CASES]


# -- text packets -------------------------------------------------------------------


@pytest.mark.parametrize(("packet", "text"), TEXT_CASES, ids=TEXT_IDS)
def test_text_packet_encodes_identically_for_websocket_and_polling(packet, text):
    assert packet.encode_websocket() == text
    assert packet.encode_polling() == text
    assert packet.binary is False


@pytest.mark.parametrize(("packet", "text"), TEXT_CASES, ids=TEXT_IDS)
def test_text_packet_decodes_from_websocket_and_polling(packet, text):
    assert Packet.decode_websocket(text) == packet
    assert Packet.decode_polling(text) == packet


def test_packet_type_values_are_the_wire_digits():
    assert [t.value for t in PacketType] == [0, 1, 2, 3, 4, 5, 6]
    assert [t.name for t in PacketType] == [
        "OPEN",
        "CLOSE",
        "PING",
        "PONG",
        "MESSAGE",
        "UPGRADE",
        "NOOP",
    ]


def test_plain_int_type_is_normalised_to_packet_type():
    packet = Packet(2, "probe")
    assert packet.type is PacketType.PING
    assert packet == Packet(PacketType.PING, "probe")


def test_decoded_text_message_always_carries_a_str():
    assert Packet.decode_websocket("4").data == ""
    assert Packet.decode_websocket("2").data is None


@pytest.mark.parametrize("text", ["1bye", "5x", "6junk", "0anything"])
def test_trailing_data_on_control_packets_is_kept_like_the_js_parser(text):
    packet = Packet.decode_websocket(text)
    assert packet.type == int(text[0])
    assert packet.data == text[1:]


def test_packets_are_frozen_and_hashable():
    packet = Packet(PacketType.MESSAGE, "x")
    with pytest.raises(AttributeError):
        packet.data = "y"  # type: ignore[misc]
    assert hash(packet) == hash(Packet(PacketType.MESSAGE, "x"))


# -- binary packets -----------------------------------------------------------------


def test_binary_message_is_a_raw_frame_on_websocket():
    packet = Packet(PacketType.MESSAGE, b"\x00\x01\xff")
    assert packet.binary is True
    assert packet.encode_websocket() == b"\x00\x01\xff"


def test_binary_message_is_b_plus_base64_on_polling():
    assert Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04").encode_polling() == "bAQIDBA=="
    assert Packet(PacketType.MESSAGE, b"").encode_polling() == "b"


@pytest.mark.parametrize("frame", [b"\x01\x02", bytearray(b"\x01\x02"), memoryview(b"\x01\x02")])
def test_binary_websocket_frame_decodes_to_binary_message(frame):
    packet = Packet.decode_websocket(frame)
    assert packet == Packet(PacketType.MESSAGE, b"\x01\x02")
    assert type(packet.data) is bytes


def test_binary_frame_that_looks_like_text_is_still_binary():
    assert Packet.decode_websocket(b"4hello") == Packet(PacketType.MESSAGE, b"4hello")


def test_base64_polling_packet_decodes_to_binary_message():
    assert Packet.decode_polling("bAQIDBA==") == Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")
    assert Packet.decode_polling("b") == Packet(PacketType.MESSAGE, b"")


def test_base64_text_frame_on_websocket_is_binary_like_force_base64_clients_send():
    assert Packet.decode_websocket("bAQI=") == Packet(PacketType.MESSAGE, b"\x01\x02")


def test_bytearray_data_is_frozen_into_bytes():
    source = bytearray(b"abc")
    packet = Packet(PacketType.MESSAGE, source)
    source[0] = ord("z")
    assert packet.data == b"abc"
    assert type(packet.data) is bytes


@pytest.mark.parametrize("ptype", [t for t in PacketType if t is not PacketType.MESSAGE])
def test_binary_data_is_refused_for_non_message_packets(ptype):
    with pytest.raises(ValueError, match="only MESSAGE"):
        Packet(ptype, b"x")


def test_non_text_non_binary_data_is_refused():
    with pytest.raises(TypeError):
        Packet(PacketType.MESSAGE, {"a": 1})  # type: ignore[arg-type]


def test_unknown_type_value_is_refused_at_construction():
    with pytest.raises(ValueError):
        Packet(7)  # type: ignore[arg-type]


# -- malformed packets -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "7", "9hello", "abc", "x", "-1", " 4hello", "٤hello", "{}", "probe"],
    ids=repr,
)
def test_malformed_text_packet_raises_protocol_error(text):
    with pytest.raises(ProtocolError):
        Packet.decode_websocket(text)
    with pytest.raises(ProtocolError):
        Packet.decode_polling(text)


def test_empty_packet_error_message_is_precise():
    with pytest.raises(ProtocolError, match="empty Engine.IO packet"):
        Packet.decode_websocket("")


def test_unknown_type_error_message_names_the_character():
    with pytest.raises(ProtocolError, match="unknown Engine.IO packet type 'a'"):
        Packet.decode_websocket("abc")


@pytest.mark.parametrize("text", ["b!!!!", "bAQI", "bAQIDBA=x", "bé===", "bAQ I="], ids=repr)
def test_bad_base64_raises_protocol_error(text):
    with pytest.raises(ProtocolError, match="invalid base64"):
        Packet.decode_polling(text)


def test_protocol_error_is_a_value_error():
    assert issubclass(ProtocolError, ValueError)


def test_decoding_non_str_polling_packet_is_a_type_error():
    with pytest.raises(TypeError):
        Packet.decode_polling(b"4hello")  # type: ignore[arg-type]


# -- payloads ------------------------------------------------------------------------


def test_payload_joins_packets_with_record_separator():
    packets = [
        Packet(PacketType.MESSAGE, "hello"),
        Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04"),
        Packet(PacketType.PING),
        Packet(PacketType.NOOP),
    ]
    body = encode_payload(packets)
    assert body == "4hello\x1ebAQIDBA==\x1e2\x1e6"
    assert SEPARATOR == "\x1e"
    assert decode_payload(body) == packets


def test_single_packet_payload_has_no_separator():
    assert encode_payload([Packet(PacketType.MESSAGE, "x")]) == "4x"
    assert decode_payload("4x") == [Packet(PacketType.MESSAGE, "x")]


def test_payload_accepts_any_iterable():
    packets = (Packet(PacketType.MESSAGE, str(i)) for i in range(3))
    assert encode_payload(packets) == "40\x1e41\x1e42"


def test_payload_body_as_utf8_bytes_is_decoded():
    body = "4héllo\x1e4✓".encode()
    assert decode_payload(body) == [
        Packet(PacketType.MESSAGE, "héllo"),
        Packet(PacketType.MESSAGE, "✓"),
    ]


def test_payload_preserves_packet_order():
    body = SEPARATOR.join(f"4{i}" for i in range(50))
    assert [p.data for p in decode_payload(body)] == [str(i) for i in range(50)]


def test_payload_with_invalid_utf8_raises_protocol_error():
    with pytest.raises(ProtocolError, match="UTF-8"):
        decode_payload(b"4\xff\xfe")


@pytest.mark.parametrize("body", ["", b""], ids=["str", "bytes"])
def test_empty_payload_raises_protocol_error(body):
    with pytest.raises(ProtocolError, match="empty payload"):
        decode_payload(body)


@pytest.mark.parametrize(
    "body",
    ["4a\x1e\x1e4b", "4a\x1e", "\x1e4a", "4a\x1ezz", "4a\x1eb!!"],
    ids=repr,
)
def test_payload_with_a_malformed_packet_raises_protocol_error(body):
    with pytest.raises(ProtocolError):
        decode_payload(body)


def test_payload_with_too_many_packets_raises_protocol_error():
    body = SEPARATOR.join(["6"] * 11)
    assert len(decode_payload(body, max_packets=11)) == 11
    with pytest.raises(ProtocolError, match="more than 10 packets"):
        decode_payload(body, max_packets=10)


def test_payload_default_limit_is_1000_packets():
    assert len(decode_payload(SEPARATOR.join(["6"] * 1000))) == 1000
    with pytest.raises(ProtocolError):
        decode_payload(SEPARATOR.join(["6"] * 1001))


# -- open packet ---------------------------------------------------------------------


def test_open_packet_for_polling_handshake_is_exact():
    packet = open_packet(
        sid="lv_VI97HAXpY6yYWAAAC",
        upgrades=["websocket"],
        ping_interval_ms=25000,
        ping_timeout_ms=20000,
        max_payload=1000000,
    )
    assert packet.type is PacketType.OPEN
    assert packet.encode_websocket() == (
        '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
        '"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
    )
    assert packet.encode_polling() == packet.encode_websocket()


def test_open_packet_keeps_sub_second_intervals_exactly():
    packet = open_packet(
        sid="s", upgrades=[], ping_interval_ms=300, ping_timeout_ms=200, max_payload=1000
    )
    assert packet.data == (
        '{"sid":"s","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}'
    )


def test_open_packet_round_trips_through_the_decoder():
    packet = open_packet(
        sid="abc", upgrades=["websocket"], ping_interval_ms=1, ping_timeout_ms=2, max_payload=3
    )
    assert Packet.decode_polling(packet.encode_polling()) == packet


@pytest.mark.parametrize("bad", [300.0, "300", True, None])
def test_open_packet_refuses_non_int_intervals(bad):
    with pytest.raises(TypeError, match="ping_interval_ms"):
        open_packet(sid="s", upgrades=[], ping_interval_ms=bad, ping_timeout_ms=1, max_payload=1)


def test_open_packet_refuses_negative_values():
    with pytest.raises(ValueError, match="max_payload"):
        open_packet(sid="s", upgrades=[], ping_interval_ms=1, ping_timeout_ms=1, max_payload=-1)


# -- cross-checks against python-engineio -----------------------------------------------


@pytest.mark.parametrize(
    ("ptype", "data"),
    [
        (pe_packet.PING, "probe"),
        (pe_packet.PONG, "probe"),
        (pe_packet.MESSAGE, "hello"),
        (pe_packet.MESSAGE, '2["ev",1]'),
        (pe_packet.CLOSE, None),
        (pe_packet.UPGRADE, None),
        (pe_packet.NOOP, None),
    ],
)
def test_text_encoding_matches_python_engineio(ptype, data):
    # Fresh reference objects: python-engineio caches the first encoding.
    ours = Packet(PacketType(ptype), data)
    assert ours.encode_websocket() == pe_packet.Packet(ptype, data=data).encode()
    assert ours.encode_polling() == pe_packet.Packet(ptype, data=data).encode(b64=True)


def test_binary_encoding_matches_python_engineio():
    data = b"\x00\xffbinary"
    ours = Packet(PacketType.MESSAGE, data)
    assert ours.encode_websocket() == pe_packet.Packet(pe_packet.MESSAGE, data=data).encode()
    assert ours.encode_polling() == pe_packet.Packet(pe_packet.MESSAGE, data=data).encode(b64=True)


def test_decoding_matches_python_engineio():
    # Only non-JSON text: python-engineio also JSON-decodes data, which the wire never implies.
    for text in ["2probe", "3probe", "4hello", "4hello world"]:
        reference = pe_packet.Packet(encoded_packet=text)
        ours = Packet.decode_websocket(text)
        assert (ours.type, ours.data) == (reference.packet_type, reference.data)


def test_payload_encoding_matches_python_engineio():
    pairs = [(pe_packet.MESSAGE, "hello"), (pe_packet.MESSAGE, b"\x01\x02"), (pe_packet.PING, None)]
    reference = pe_payload.Payload([pe_packet.Packet(t, data=d) for t, d in pairs]).encode()
    ours = encode_payload([Packet(PacketType(t), d) for t, d in pairs])
    assert ours == reference


def test_python_engineio_payload_decodes_identically():
    body = "4hello\x1eb" + base64.b64encode(b"\x01\x02").decode() + "\x1e2probe"
    reference = pe_payload.Payload(encoded_payload=body).packets
    ours = decode_payload(body)
    assert [(p.type, p.data) for p in ours] == [(p.packet_type, p.data) for p in reference]


def test_module_exports_the_documented_names():
    assert set(eio.__all__) >= {
        "ProtocolError",
        "PacketType",
        "Packet",
        "encode_payload",
        "decode_payload",
        "open_packet",
        "SEPARATOR",
    }
