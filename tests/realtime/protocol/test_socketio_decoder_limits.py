"""What a Socket.IO decoder may hold: attachments per packet, bytes of attachments per
connection, and a byte budget shared by every connection of a process. Each limit refuses
the packet when the header or the attachment that exceeds it arrives, before keeping it,
and gives the bytes it held back."""

from __future__ import annotations

import pytest

from realtime.server.protocol.socketio import Packet, PacketType, ProtocolError
from realtime.server.protocol.socketio_decoder import ByteBudget, Decoder, LimitExceeded


def header(attachments: int) -> str:
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(attachments))
    return f'5{attachments}-["m",{placeholders}]'


def test_a_decoder_that_allows_no_attachments_refuses_a_binary_header():
    with pytest.raises(LimitExceeded, match="too many attachments: 1 > 0") as refused:
        Decoder(max_attachments=0).feed(header(1))
    assert (refused.value.limit_name, refused.value.limit) == ("max_attachments", 0)


def test_attachments_over_the_byte_limit_are_refused_at_the_attachment_that_exceeds_it():
    decoder = Decoder(max_attachment_bytes=10)
    assert decoder.feed(header(3)) is None
    assert decoder.feed(b"x" * 6) is None
    assert decoder.held_bytes == 6
    with pytest.raises(LimitExceeded, match="over 10 bytes") as refused:
        decoder.feed(b"y" * 5)
    assert refused.value.limit_name == "max_attachment_bytes"
    assert not decoder.pending and decoder.held_bytes == 0


def test_attachments_within_the_byte_limit_make_a_packet():
    decoder = Decoder(max_attachment_bytes=10)
    decoder.feed(header(2))
    decoder.feed(b"12345")
    assert decoder.feed(b"67890") == Packet(PacketType.EVENT, data=["m", b"12345", b"67890"])
    assert decoder.held_bytes == 0


def test_decoders_sharing_a_budget_hold_at_most_the_budget_together():
    budget = ByteBudget(10)
    first, second = Decoder(budget=budget), Decoder(budget=budget)
    first.feed(header(2))
    second.feed(header(2))
    first.feed(b"x" * 6)
    assert budget.used == 6
    with pytest.raises(LimitExceeded, match="holds 10 bytes") as refused:
        second.feed(b"y" * 5)
    assert refused.value.limit_name == "max_pending_attachment_bytes"
    assert budget.used == 6  # the refused decoder held nothing
    first.feed(b"z")  # first completes: its bytes go back
    assert budget.used == 0


def test_resetting_a_decoder_gives_its_bytes_back_to_the_budget():
    budget = ByteBudget(100)
    decoder = Decoder(budget=budget)
    decoder.feed(header(2))
    decoder.feed(b"x" * 40)
    assert budget.used == 40
    decoder.reset()
    assert budget.used == 0 and not decoder.pending


def test_a_text_packet_instead_of_an_attachment_gives_the_bytes_back():
    budget = ByteBudget(100)
    decoder = Decoder(budget=budget)
    decoder.feed(header(2))
    decoder.feed(b"x" * 40)
    with pytest.raises(ProtocolError, match="waiting for 1 binary attachment") as refused:
        decoder.feed('2["m"]')
    assert not isinstance(refused.value, LimitExceeded)
    assert budget.used == 0


def test_limits_are_refused_as_protocol_errors_too():
    assert issubclass(LimitExceeded, ProtocolError)
    with pytest.raises(ValueError):
        Decoder(max_attachment_bytes=-1)
    with pytest.raises(ValueError):
        ByteBudget(-1)
