"""The few bits of the DNS wire format (RFC 1035) the embedded resolver needs (pure).

Parse a query's header and question; build an answer with A records, an
empty answer (NODATA) or an error.  Anything else (forwarded queries) is
relayed as raw bytes and never parsed.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from vessel.errors import InvalidArgument

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
_HEADER = struct.Struct("!HHHHHH")
_QR, _AA, _RD, _RA = 0x8000, 0x0400, 0x0100, 0x0080
_OPCODE_MASK = 0x7800


@dataclass(frozen=True, slots=True)
class Query:
    id: int
    flags: int
    name: str             # lower case, no trailing dot
    qtype: int
    qclass: int
    question: bytes       # the question section as received (echoed in answers)


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while True:
        if offset >= len(data):
            raise InvalidArgument("DNS name runs past the end of the message")
        length = data[offset]
        if length & 0xC0:
            raise InvalidArgument("compressed name in a DNS question is not supported")
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        if offset + length > len(data):
            raise InvalidArgument("DNS label runs past the end of the message")
        labels.append(data[offset:offset + length].decode("ascii", "replace"))
        offset += length


def parse_query(data: bytes) -> Query:
    if len(data) < _HEADER.size:
        raise InvalidArgument(f"DNS message too short ({len(data)} bytes)")
    qid, flags, qdcount, _an, _ns, _ar = _HEADER.unpack_from(data)
    if flags & _QR:
        raise InvalidArgument("DNS message is a response, not a query")
    if qdcount != 1:
        raise InvalidArgument(f"DNS query has {qdcount} questions, expected 1")
    name, end = _read_name(data, _HEADER.size)
    if end + 4 > len(data):
        raise InvalidArgument("DNS question is truncated")
    qtype, qclass = struct.unpack_from("!HH", data, end)
    return Query(qid, flags, name.lower().rstrip("."), qtype, qclass, data[_HEADER.size:end + 4])


def header_id(data: bytes) -> int | None:
    return struct.unpack_from("!H", data)[0] if len(data) >= 2 else None


def _flags(query_flags: int, rcode: int, authoritative: bool) -> int:
    flags = _QR | (query_flags & (_OPCODE_MASK | _RD)) | _RA | rcode
    return flags | _AA if authoritative else flags


def answer(query: Query, addresses: Sequence[str], ttl: int = 600) -> bytes:
    """An authoritative answer: A records for ``addresses`` (none = NODATA)."""
    records = []
    for addr in addresses:
        rdata = ipaddress.IPv4Address(addr).packed
        # 0xC00C: a pointer to the question's name right after the header
        records.append(struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, ttl, len(rdata)) + rdata)
    header = _HEADER.pack(query.id, _flags(query.flags, NOERROR, True), 1, len(records), 0, 0)
    return header + query.question + b"".join(records)


def error(query: Query, rcode: int) -> bytes:
    header = _HEADER.pack(query.id, _flags(query.flags, rcode, rcode == NXDOMAIN), 1, 0, 0, 0)
    return header + query.question


def formerr(data: bytes) -> bytes | None:
    """FORMERR for a message too broken to parse, if it has an id to answer to."""
    qid = header_id(data)
    if qid is None:
        return None
    return _HEADER.pack(qid, _QR | _RA | FORMERR, 0, 0, 0, 0)


def build_query(qid: int, name: str, qtype: int = TYPE_A, recursion: bool = True) -> bytes:
    """A query message (used by tests and health checks)."""
    labels = [label.encode("ascii") for label in name.rstrip(".").split(".") if label]
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    header = _HEADER.pack(qid, _RD if recursion else 0, 1, 0, 0, 0)
    return header + qname + struct.pack("!HH", qtype, CLASS_IN)


def answers_of(data: bytes) -> tuple[int, list[str]]:
    """(rcode, A addresses) of a response; enough for tests and health checks."""
    qid, flags, qdcount, ancount, _ns, _ar = _HEADER.unpack_from(data)
    offset = _HEADER.size
    for _ in range(qdcount):
        offset = _skip_name(data, offset) + 4
    addrs = []
    for _ in range(ancount):
        offset = _skip_name(data, offset)
        rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", data, offset)
        offset += 10
        if rtype == TYPE_A and rdlen == 4:
            addrs.append(str(ipaddress.IPv4Address(data[offset:offset + 4])))
        offset += rdlen
    return flags & 0x000F, addrs


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length & 0xC0:
            return offset + 2
        offset += 1 + length
        if length == 0:
            return offset
