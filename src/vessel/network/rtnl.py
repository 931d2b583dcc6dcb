"""A small rtnetlink client: links, addresses, routes, on a plain ``AF_NETLINK`` socket.

Why not pyroute2: every ``vessel run`` is a fresh process, and importing
pyroute2 costs 100-150 ms (asyncio, ndb, ssl...) where the kernel work of
connecting a container takes 7-10 ms.  This module needs only ``socket`` and
``struct`` and does exactly what `links` asks for (see docs/network.md).

Pure part: ``pack_*`` build messages and attributes, ``unpack_*`` parse them,
and the request builders (``get_link``, ``new_veth``...) return a `Request`
(type, flags, body) that `Request.encode` stamps with a sequence number.  All
of it is byte-exact against hand-built messages in the unit tests.

Shell: `Rtnl` sends one request at a time with ``NLM_F_ACK`` (or
``NLM_F_DUMP``), reads answers with its sequence number until the ack, the
error or ``NLMSG_DONE``, and raises `NetlinkError` (an ``OSError`` carrying the
errno and the kernel's extended-ack message) on failure.

Layouts (host byte order, every item padded to 4 bytes)::

    nlmsghdr   len u32, type u16, flags u16, seq u32, pid u32         16 bytes
    rtattr     len u16, type u16, data                                4 + data
    ifinfomsg  family u8, pad u8, type u16, index i32, flags u32, change u32
    ifaddrmsg  family u8, prefixlen u8, flags u8, scope u8, index u32
    rtmsg      family, dst_len, src_len, tos, table, protocol, scope, type u8; flags u32
    nlmsgerr   error i32, the request's nlmsghdr [, its payload], [ext-ack attributes]
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections import namedtuple

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP_INTR = 0x01, 0x02, 0x04, 0x10
NLM_F_DUMP = 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200          # flags of an NLMSG_ERROR answer
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 1 << 15
NLA_TYPE_MASK = 0x3FFF

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26

AF_UNSPEC, AF_INET, AF_BRIDGE = 0, 2, 7
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_PROTINFO = 1, 3, 10, 12
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD, IFLA_EXT_MASK = 18, 20, 28, 29
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4                                  # hairpin
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4                                     # what pyroute2 and `ip route` (proto static) use
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1

_HDR = struct.Struct("=IHHII")
_ATTR = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
RECV_SIZE = 1 << 16
DUMP_RETRIES = 5


class NetlinkError(OSError):
    """The kernel refused a request: ``code`` (= ``errno``) and its extended-ack message, if any."""

    def __init__(self, code: int, message: str = "") -> None:
        reason = os.strerror(code)
        super().__init__(code, f"{reason} ({message})" if message else reason)
        self.message = message

    @property
    def code(self) -> int:
        return self.errno


# Records are named tuples, not dataclasses: a frozen dataclass costs ~0.7 ms to define here, and
# this module is imported by every `vessel run` (see the module docstring).

class Message(namedtuple("Message", "type flags seq pid payload")):
    """One netlink message: header fields and the payload after the 16-byte header."""

    __slots__ = ()


class Link(namedtuple("Link", "index name kind alias master mac flags", defaults=("", "", 0, "", 0))):
    """A link: ``kind`` is IFLA_INFO_KIND ("bridge", "veth"; "" for lo or a NIC), ``master`` the
    ifindex of its bridge (0: none), ``flags`` the IFF_* bits."""

    __slots__ = ()

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


class Address(namedtuple("Address", "index address prefixlen")):
    """An IPv4 address of link ``index``: IFA_LOCAL (the interface's own address), else IFA_ADDRESS."""

    __slots__ = ()


class Route(namedtuple("Route", "dst dst_len oif gateway table", defaults=(0, "", RT_TABLE_MAIN))):
    """An IPv4 route: ``dst`` "0.0.0.0" with ``dst_len`` 0 is the default route; ``oif`` 0 if none."""

    __slots__ = ()


class Request(namedtuple("Request", "type flags body")):
    """A request without its sequence number: message type, NLM_F_* flags, payload."""

    __slots__ = ()

    def encode(self, seq: int, pid: int = 0) -> bytes:
        return pack_nlmsg(self.type, self.flags, seq, self.body, pid)


# Encoding ------------------------------------------------------------------------

def _pad(n: int) -> int:
    return (n + 3) & ~3


def pack_nlmsg(msg_type: int, flags: int, seq: int, payload: bytes, pid: int = 0) -> bytes:
    return _HDR.pack(_HDR.size + len(payload), msg_type, flags, seq, pid) + payload


def pack_attr(attr_type: int, data: bytes) -> bytes:
    size = _ATTR.size + len(data)
    return _ATTR.pack(size, attr_type) + data + b"\0" * (_pad(size) - size)


def pack_str(attr_type: int, text: str) -> bytes:
    return pack_attr(attr_type, text.encode() + b"\0")


def pack_u32(attr_type: int, value: int) -> bytes:
    return pack_attr(attr_type, _U32.pack(value))


def pack_u8(attr_type: int, value: int) -> bytes:
    return pack_attr(attr_type, bytes((value,)))


def pack_nested(attr_type: int, *attrs: bytes, flag: bool = False) -> bytes:
    """Attributes inside an attribute; ``flag`` sets NLA_F_NESTED (IFLA_PROTINFO needs it)."""
    return pack_attr(attr_type | (NLA_F_NESTED if flag else 0), b"".join(attrs))


def pack_ifinfomsg(family: int = AF_UNSPEC, index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(family, 0, index, flags, change)


def pack_ifaddrmsg(family: int, prefixlen: int, index: int, flags: int = 0, scope: int = RT_SCOPE_UNIVERSE) -> bytes:
    return _IFADDR.pack(family, prefixlen, flags, scope, index)


def pack_rtmsg(family: int, dst_len: int = 0, table: int = 0, protocol: int = 0, scope: int = 0,
               rtype: int = 0) -> bytes:
    return _RTMSG.pack(family, dst_len, 0, 0, table, protocol, scope, rtype, 0)


def mac_bytes(mac: str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def ipv4_bytes(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, address)


# Decoding ------------------------------------------------------------------------

def unpack_nlmsgs(data: bytes) -> list[Message]:
    """The netlink messages of one datagram."""
    out, offset = [], 0
    while offset + _HDR.size <= len(data):
        length, msg_type, flags, seq, pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size or offset + length > len(data):
            raise ValueError(f"truncated netlink message at offset {offset}: length {length} of {len(data)}")
        out.append(Message(msg_type, flags, seq, pid, data[offset + _HDR.size:offset + length]))
        offset += _pad(length)
    return out


def unpack_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """type -> payload (NLA_F_NESTED / byte-order bits dropped; a repeated type keeps the last)."""
    out = {}
    while offset + _ATTR.size <= len(data):
        length, attr_type = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            break
        out[attr_type & NLA_TYPE_MASK] = data[offset + _ATTR.size:offset + length]
        offset += _pad(length)
    return out


def _str(raw: bytes | None) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace") if raw else ""


def _u32(raw: bytes | None) -> int:
    return _U32.unpack_from(raw)[0] if raw else 0


def _ipv4(raw: bytes | None) -> str:
    return socket.inet_ntop(socket.AF_INET, raw) if raw and len(raw) == 4 else ""


def unpack_link(payload: bytes) -> Link:
    _family, _type, index, flags, _change = _IFINFO.unpack_from(payload)
    attrs = unpack_attrs(payload, _IFINFO.size)
    info = unpack_attrs(attrs[IFLA_LINKINFO]) if IFLA_LINKINFO in attrs else {}
    mac = attrs.get(IFLA_ADDRESS, b"")
    return Link(index=index, name=_str(attrs.get(IFLA_IFNAME)), kind=_str(info.get(IFLA_INFO_KIND)),
                alias=_str(attrs.get(IFLA_IFALIAS)), master=_u32(attrs.get(IFLA_MASTER)),
                mac=":".join(f"{b:02x}" for b in mac), flags=flags)


def unpack_address(payload: bytes) -> Address:
    _family, prefixlen, _flags, _scope, index = _IFADDR.unpack_from(payload)
    attrs = unpack_attrs(payload, _IFADDR.size)
    return Address(index, _ipv4(attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)), prefixlen)


def unpack_route(payload: bytes) -> Route:
    _family, dst_len, _src, _tos, table, _proto, _scope, _type, _flags = _RTMSG.unpack_from(payload)
    attrs = unpack_attrs(payload, _RTMSG.size)
    return Route(dst=_ipv4(attrs.get(RTA_DST)) or "0.0.0.0", dst_len=dst_len, oif=_u32(attrs.get(RTA_OIF)),
                 gateway=_ipv4(attrs.get(RTA_GATEWAY)),
                 table=_u32(attrs[RTA_TABLE]) if RTA_TABLE in attrs else table)


def unpack_error(msg: Message) -> NetlinkError | None:
    """None for an ack (error 0), else the error with the kernel's extended-ack message."""
    (code,) = _I32.unpack_from(msg.payload)
    if code == 0:
        return None
    text = ""
    if msg.flags & NLM_F_ACK_TLVS:
        offset = _I32.size + _HDR.size
        if not msg.flags & NLM_F_CAPPED:      # the request's payload is echoed before the attributes
            offset = _I32.size + _pad(_HDR.unpack_from(msg.payload, _I32.size)[0])
        text = _str(unpack_attrs(msg.payload, offset).get(NLMSGERR_ATTR_MSG))
    return NetlinkError(-code, text)


# Requests (pure) ------------------------------------------------------------------

_DO = NLM_F_REQUEST | NLM_F_ACK
_ADD = _DO | NLM_F_CREATE | NLM_F_EXCL
_DUMP = NLM_F_REQUEST | NLM_F_DUMP
_NO_STATS = pack_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)


def get_link(name: str) -> Request:
    return Request(RTM_GETLINK, _DO, pack_ifinfomsg() + pack_str(IFLA_IFNAME, name) + _NO_STATS)


def get_link_by_index(index: int) -> Request:
    return Request(RTM_GETLINK, _DO, pack_ifinfomsg(index=index) + _NO_STATS)


def dump_links() -> Request:
    return Request(RTM_GETLINK, _DUMP, pack_ifinfomsg() + _NO_STATS)


def new_bridge(name: str, mac: str) -> Request:
    return Request(RTM_NEWLINK, _ADD, pack_ifinfomsg() + pack_str(IFLA_IFNAME, name)
                   + pack_attr(IFLA_ADDRESS, mac_bytes(mac)) + pack_nested(IFLA_LINKINFO, pack_str(IFLA_INFO_KIND, "bridge")))


def set_link(index: int, *, alias: str | None = None, up: bool | None = None, master: int | None = None) -> Request:
    """Change an existing link: its alias, its state (up/down), its bridge (``master=0`` releases it)."""
    flags, change = (0, 0) if up is None else (IFF_UP if up else 0, IFF_UP)
    body = pack_ifinfomsg(index=index, flags=flags, change=change)
    if alias is not None:
        body += pack_str(IFLA_IFALIAS, alias)
    if master is not None:
        body += pack_u32(IFLA_MASTER, master)
    return Request(RTM_SETLINK, _DO, body)


def new_veth(name: str, peer: str, peer_netns_fd: int, peer_mac: str, *, master: int = 0, up: bool = False) -> Request:
    """A veth pair: ``name`` here (on bridge ``master``, up), ``peer`` created directly in another netns."""
    peer_info = (pack_ifinfomsg() + pack_str(IFLA_IFNAME, peer) + pack_attr(IFLA_ADDRESS, mac_bytes(peer_mac))
                 + pack_u32(IFLA_NET_NS_FD, peer_netns_fd))
    linkinfo = pack_nested(IFLA_LINKINFO, pack_str(IFLA_INFO_KIND, "veth"),
                           pack_nested(IFLA_INFO_DATA, pack_attr(VETH_INFO_PEER, peer_info)))
    body = pack_ifinfomsg(flags=IFF_UP if up else 0, change=IFF_UP if up else 0) + pack_str(IFLA_IFNAME, name)
    if master:
        body += pack_u32(IFLA_MASTER, master)
    return Request(RTM_NEWLINK, _ADD, body + linkinfo)


def del_link(index: int) -> Request:
    return Request(RTM_DELLINK, _DO, pack_ifinfomsg(index=index))


def set_hairpin(index: int, on: bool = True) -> Request:
    """Hairpin mode of a bridge port (``bridge link set dev X hairpin on``)."""
    protinfo = pack_nested(IFLA_PROTINFO, pack_u8(IFLA_BRPORT_MODE, 1 if on else 0), flag=True)
    return Request(RTM_SETLINK, _DO, pack_ifinfomsg(family=AF_BRIDGE, index=index) + protinfo)


def dump_addrs() -> Request:
    return Request(RTM_GETADDR, _DUMP, pack_ifaddrmsg(AF_INET, 0, 0))


def new_addr(index: int, address: str, prefixlen: int) -> Request:
    raw = ipv4_bytes(address)
    return Request(RTM_NEWADDR, _ADD, pack_ifaddrmsg(AF_INET, prefixlen, index)
                   + pack_attr(IFA_LOCAL, raw) + pack_attr(IFA_ADDRESS, raw))


def new_route(gateway: str, oif: int, dst: str = "0.0.0.0", dst_len: int = 0) -> Request:
    body = pack_rtmsg(AF_INET, dst_len, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST)
    if dst_len:
        body += pack_attr(RTA_DST, ipv4_bytes(dst))
    return Request(RTM_NEWROUTE, _ADD, body + pack_attr(RTA_GATEWAY, ipv4_bytes(gateway)) + pack_u32(RTA_OIF, oif))


def dump_routes() -> Request:
    return Request(RTM_GETROUTE, _DUMP, pack_rtmsg(AF_INET))


# The socket ------------------------------------------------------------------------

class Rtnl:
    """One NETLINK_ROUTE socket; pass ``sock`` to drive one made in another network namespace."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock = sock
        for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):     # shorter acks, error messages (Linux >= 4.12)
            try:
                sock.setsockopt(SOL_NETLINK, option, 1)
            except OSError as err:
                if err.errno != errno.ENOPROTOOPT:            # old kernel: plain errno answers still work
                    raise
        if sock.getsockname()[0] == 0:
            sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Rtnl":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, req: Request) -> list[Message]:
        """Send one request and return its answers (a dump's parts); `NetlinkError` if refused."""
        for _ in range(DUMP_RETRIES):
            answers, interrupted = self._exchange(req)
            if not interrupted:
                return answers
        raise NetlinkError(errno.EINTR, f"dump interrupted {DUMP_RETRIES} times (the table kept changing)")

    def _exchange(self, req: Request) -> tuple[list[Message], bool]:
        self._seq = self._seq % 0xFFFFFFFF + 1
        seq = self._seq
        self.sock.sendto(req.encode(seq), (0, 0))
        answers: list[Message] = []
        interrupted = False
        while True:
            for msg in unpack_nlmsgs(self.sock.recv(RECV_SIZE)):
                if msg.seq != seq or msg.type == NLMSG_NOOP:
                    continue                                  # a late answer to an earlier request
                interrupted |= bool(msg.flags & NLM_F_DUMP_INTR)
                if msg.type == NLMSG_ERROR:
                    err = unpack_error(msg)
                    if err is not None:
                        raise err
                    return answers, interrupted
                if msg.type == NLMSG_DONE:
                    (code,) = _I32.unpack_from(msg.payload) if len(msg.payload) >= 4 else (0,)
                    if code < 0:
                        raise NetlinkError(-code, "dump failed")
                    return answers, interrupted
                answers.append(msg)

    # Links ---------------------------------------------------------------------
    def link_index(self, name: str) -> int | None:
        try:
            answers = self.call(get_link(name))
        except NetlinkError as err:
            if err.code == errno.ENODEV:
                return None
            raise
        return unpack_link(answers[0].payload).index

    def link(self, index: int) -> Link:
        return unpack_link(self.call(get_link_by_index(index))[0].payload)

    def links(self) -> list[Link]:
        return [unpack_link(m.payload) for m in self.call(dump_links()) if m.type == RTM_NEWLINK]

    def add_bridge(self, name: str, mac: str) -> None:
        self.call(new_bridge(name, mac))

    def set_link(self, index: int, *, alias: str | None = None, up: bool | None = None,
                 master: int | None = None) -> None:
        self.call(set_link(index, alias=alias, up=up, master=master))

    def add_veth(self, name: str, peer: str, peer_netns_fd: int, peer_mac: str, *, master: int = 0,
                 up: bool = False) -> None:
        self.call(new_veth(name, peer, peer_netns_fd, peer_mac, master=master, up=up))

    def delete_link(self, index: int) -> None:
        self.call(del_link(index))

    def set_hairpin(self, index: int, on: bool = True) -> None:
        self.call(set_hairpin(index, on))

    # Addresses and routes ---------------------------------------------------------
    def addresses(self, index: int = 0) -> list[Address]:
        """IPv4 addresses of link ``index`` (0: of every link)."""
        found = [unpack_address(m.payload) for m in self.call(dump_addrs()) if m.type == RTM_NEWADDR]
        return [a for a in found if not index or a.index == index]

    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        self.call(new_addr(index, address, prefixlen))

    def add_route(self, gateway: str, oif: int, dst: str = "0.0.0.0", dst_len: int = 0) -> None:
        self.call(new_route(gateway, oif, dst, dst_len))

    def routes(self, table: int = RT_TABLE_MAIN) -> list[Route]:
        """IPv4 routes of ``table``."""
        found = [unpack_route(m.payload) for m in self.call(dump_routes()) if m.type == RTM_NEWROUTE]
        return [r for r in found if r.table == table]
