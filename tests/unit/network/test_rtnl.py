"""rtnl: netlink messages byte for byte, and the request/answer loop against a scripted socket.

The expected messages are written out by hand in hex (netlink uses the host's
byte order: these are little-endian, as on x86-64 and arm64).
"""

from __future__ import annotations

import errno
import socket
import sys
from collections import deque

import pytest

from vessel.network import rtnl
from vessel.network.rtnl import Address, Link, NetlinkError, Route

pytestmark = [pytest.mark.unit,
              pytest.mark.skipif(sys.byteorder != "little", reason="hand-built messages are little-endian")]


def hexb(text: str) -> bytes:
    return bytes.fromhex(text)


# Attributes -------------------------------------------------------------------------

def test_attributes_are_padded_to_four_bytes():
    assert rtnl.pack_attr(3, b"abcde") == hexb("0900 0300 6162636465 000000")
    assert rtnl.pack_str(3, "eth0") == hexb("0900 0300 6574683000 000000")
    assert rtnl.pack_u32(10, 3) == hexb("0800 0a00 03000000")
    assert rtnl.pack_u8(4, 1) == hexb("0500 0400 01 000000")
    assert rtnl.pack_attr(1, b"") == hexb("0400 0100")


def test_nested_attributes_and_the_nested_flag():
    inner = rtnl.pack_str(1, "bridge")
    assert inner == hexb("0b00 0100 62726964676500 00")
    assert rtnl.pack_nested(18, inner) == hexb("1000 1200") + inner
    assert rtnl.pack_nested(12, rtnl.pack_u8(4, 1), flag=True) == hexb("0c00 0c80 0500 0400 01000000")


def test_headers():
    assert rtnl.pack_nlmsg(16, 0x605, 7, b"\x01\x02\x03\x04", pid=9) == hexb("14000000 1000 0506 07000000 09000000 01020304")
    assert rtnl.pack_ifinfomsg(7, 6, 1, 1) == hexb("07 00 0000 06000000 01000000 01000000")
    assert rtnl.pack_ifaddrmsg(2, 24, 3) == hexb("02 18 00 00 03000000")
    assert rtnl.pack_rtmsg(2, 0, 254, 4, 0, 1) == hexb("02 00 00 00 fe 04 00 01 00000000")


def test_bad_mac_is_refused():
    with pytest.raises(ValueError, match="not a MAC"):
        rtnl.mac_bytes("02:42:0a")


# Requests ---------------------------------------------------------------------------

IFINFO0 = "00 00 0000 00000000 00000000 00000000"
NO_STATS = "0800 1d00 08000000"       # IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS


def test_get_link_by_name():
    assert rtnl.get_link("eth0").encode(7) == hexb(
        "34000000 1200 0500 07000000 00000000" + IFINFO0 + "0900 0300 6574683000 000000" + NO_STATS)


def test_get_link_by_index_and_dump_links():
    assert rtnl.get_link_by_index(5).encode(1) == hexb(
        "28000000 1200 0500 01000000 00000000" "00 00 0000 05000000 00000000 00000000" + NO_STATS)
    assert rtnl.dump_links().encode(2) == hexb("28000000 1200 0103 02000000 00000000" + IFINFO0 + NO_STATS)


def test_new_bridge_with_its_mac():
    assert rtnl.new_bridge("vsbr0", "02:42:0a:58:00:01").encode(1) == hexb(
        "48000000 1000 0506 01000000 00000000" + IFINFO0
        + "0a00 0300 767362723000 0000"            # IFLA_IFNAME vsbr0
        + "0a00 0100 02420a580001 0000"            # IFLA_ADDRESS
        + "1000 1200 0b00 0100 62726964676500 00")  # IFLA_LINKINFO { IFLA_INFO_KIND bridge }


def test_new_veth_creates_the_peer_in_another_namespace():
    peer = (IFINFO0 + "0900 0300 6574683000 000000"   # eth0
            + "0a00 0100 02420a580002 0000"           # its MAC
            + "0800 1c00 05000000")                   # IFLA_NET_NS_FD 5
    assert rtnl.new_veth("vh1", "eth0", 5, "02:42:0a:58:00:02", master=3, up=True).encode(2) == hexb(
        "78000000 1000 0506 02000000 00000000"
        "00 00 0000 00000000 01000000 01000000"      # IFF_UP set and changed
        "0800 0300 76683100"                         # IFLA_IFNAME vh1
        "0800 0a00 03000000"                         # IFLA_MASTER 3
        "4800 1200 0900 0100 7665746800 000000"      # IFLA_LINKINFO { kind veth,
        "3800 0200 3400 0100" + peer)                #   IFLA_INFO_DATA { VETH_INFO_PEER { ifinfomsg, attrs } } }


def test_set_link_alias_state_and_master():
    assert rtnl.set_link(4, alias="a", up=True).encode(3) == hexb(
        "28000000 1300 0500 03000000 00000000" "00 00 0000 04000000 01000000 01000000" "0600 1400 6100 0000")
    assert rtnl.set_link(4, up=False).encode(4) == hexb(
        "20000000 1300 0500 04000000 00000000" "00 00 0000 04000000 00000000 01000000")
    assert rtnl.set_link(4, master=0).encode(5) == hexb(
        "28000000 1300 0500 05000000 00000000" "00 00 0000 04000000 00000000 00000000" "0800 0a00 00000000")


def test_hairpin_is_a_bridge_port_setting():
    assert rtnl.set_hairpin(6).encode(1) == hexb(
        "2c000000 1300 0500 01000000 00000000" "07 00 0000 06000000 00000000 00000000"
        "0c00 0c80 0500 0400 01000000")          # IFLA_PROTINFO|NLA_F_NESTED { IFLA_BRPORT_MODE 1 }
    assert rtnl.set_hairpin(6, on=False).encode(1)[-4] == 0


def test_delete_link():
    assert rtnl.del_link(7).encode(9) == hexb("20000000 1100 0500 09000000 00000000" "00 00 0000 07000000 00000000 00000000")


def test_addresses():
    assert rtnl.new_addr(2, "10.88.0.1", 16).encode(1) == hexb(
        "28000000 1400 0506 01000000 00000000" "02 10 00 00 02000000" "0800 0200 0a580001" "0800 0100 0a580001")
    assert rtnl.dump_addrs().encode(2) == hexb("18000000 1600 0103 02000000 00000000" "02 00 00 00 00000000")


def test_routes():
    assert rtnl.new_route("10.88.0.1", 2).encode(1) == hexb(
        "2c000000 1800 0506 01000000 00000000" "02 00 00 00 fe 04 00 01 00000000"
        "0800 0500 0a580001" "0800 0400 02000000")
    assert rtnl.new_route("10.1.0.1", 3, dst="10.2.0.0", dst_len=16).encode(1) == hexb(
        "34000000 1800 0506 01000000 00000000" "02 10 00 00 fe 04 00 01 00000000"
        "0800 0100 0a020000" "0800 0500 0a010001" "0800 0400 03000000")
    assert rtnl.dump_routes().encode(3) == hexb("1c000000 1a00 0103 03000000 00000000" "02 00 00 00 00 00 00 00 00000000")


# Decoding ---------------------------------------------------------------------------

LINK_PAYLOAD = hexb(
    "00 00 0100 05000000 03100000 00000000"       # ifinfomsg: index 5, UP|BROADCAST|MULTICAST
    "0800 0300 76683100"                          # IFLA_IFNAME vh1
    "0a00 0100 02420a580002 0000"                 # IFLA_ADDRESS
    "0800 0a00 03000000"                          # IFLA_MASTER 3
    "0d00 1400 7665737365 6c3a7800 000000"        # IFLA_IFALIAS vessel:x
    "1c00 1280 0900 0100 7665746800 000000"       # IFLA_LINKINFO (nested flag) { kind veth,
    "0c00 0280 0800 0100 07000000"                #   data { peer ... } }
    "0800 ff00 2a000000")                         # an attribute we do not know


def test_unpack_link():
    link = rtnl.unpack_link(LINK_PAYLOAD)
    assert link == Link(5, "vh1", "veth", "vessel:x", 3, "02:42:0a:58:00:02", 0x1003)
    assert link.up
    assert rtnl.unpack_link(hexb("00 00 0403 01000000 08000000 00000000" "0700 0300 6c6f00 00")) == Link(1, "lo", flags=8)


def test_unpack_address_prefers_the_local_address():
    payload = hexb("02 18 80 00 03000000" "0800 0100 0a000002" "0800 0200 0a000001" "0800 0300 65746800")
    assert rtnl.unpack_address(payload) == Address(3, "10.0.0.1", 24)
    assert rtnl.unpack_address(hexb("02 08 00 fe 01000000" "0800 0100 7f000001")) == Address(1, "127.0.0.1", 8)


def test_unpack_route():
    default = hexb("02 00 00 00 fe 04 00 01 00000000" "0800 0f00 fe000000" "0800 0500 0a580001" "0800 0400 02000000")
    assert rtnl.unpack_route(default) == Route("0.0.0.0", 0, 2, "10.88.0.1", 254)
    local = hexb("02 20 00 00 ff 02 fe 02 00000000" "0800 0f00 ff000000" "0800 0100 0a580001" "0800 0400 02000000")
    assert rtnl.unpack_route(local) == Route("10.88.0.1", 32, 2, "", 255)
    no_table_attr = hexb("02 10 00 00 fe 02 fd 01 00000000" "0800 0100 0a580000")
    assert rtnl.unpack_route(no_table_attr) == Route("10.88.0.0", 16, 0, "", 254)


def test_several_messages_in_one_datagram():
    data = rtnl.pack_nlmsg(16, 2, 1, b"abc") + b"\0" + rtnl.pack_nlmsg(3, 2, 1, b"\0\0\0\0")
    assert rtnl.unpack_nlmsgs(data) == [rtnl.Message(16, 2, 1, 0, b"abc"), rtnl.Message(3, 2, 1, 0, b"\0\0\0\0")]
    with pytest.raises(ValueError, match="truncated"):
        rtnl.unpack_nlmsgs(data[:-1])


def test_ack_and_errors():
    assert rtnl.unpack_error(rtnl.Message(2, 0x100, 1, 0, hexb("00000000") + bytes(16))) is None
    echoed = hexb("14000000 1000 0506 01000000 00000000")      # the request's header, len 20
    capped = rtnl.Message(2, 0x300, 1, 0, hexb("efffffff") + echoed + hexb("0900 0100 626f6f6d00 000000"))
    err = rtnl.unpack_error(capped)
    assert isinstance(err, OSError) and err.errno == err.code == errno.EEXIST
    assert err.message == "boom" and str(err) == "[Errno 17] File exists (boom)"
    full = rtnl.Message(2, 0x200, 1, 0, hexb("eaffffff") + echoed + hexb("aabbccdd") + hexb("0700 0100 626164 00"))
    assert (rtnl.unpack_error(full).code, rtnl.unpack_error(full).message) == (errno.EINVAL, "bad")
    plain = rtnl.unpack_error(rtnl.Message(2, 0, 1, 0, hexb("edffffff") + echoed + hexb("aabbccdd")))
    assert (plain.code, plain.message, plain.strerror) == (errno.ENODEV, "", "No such device")


# The request/answer loop ------------------------------------------------------------------

class ScriptedSocket:
    """Answers each recv() with the next datagram of the script; records what is sent."""

    def __init__(self, *datagrams: bytes, bound: bool = False, sockopt_errno: int | None = None) -> None:
        self.datagrams = deque(datagrams)
        self.sent: list[bytes] = []
        self.options: list[tuple[int, int, int]] = []
        self.bound_to = (1234, 0) if bound else None
        self.sockopt_errno = sockopt_errno
        self.closed = False

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if self.sockopt_errno is not None:
            raise OSError(self.sockopt_errno, "no")
        self.options.append((level, option, value))

    def getsockname(self) -> tuple[int, int]:
        return self.bound_to or (0, 0)

    def bind(self, addr: tuple[int, int]) -> None:
        self.bound_to = addr

    def sendto(self, data: bytes, addr: tuple[int, int]) -> int:
        assert addr == (0, 0)
        self.sent.append(data)
        return len(data)

    def recv(self, size: int) -> bytes:
        return self.datagrams.popleft()

    def close(self) -> None:
        self.closed = True


def ack(seq: int) -> bytes:
    return rtnl.pack_nlmsg(rtnl.NLMSG_ERROR, 0x100, seq, hexb("00000000") + bytes(16))


def error(seq: int, code: int) -> bytes:
    return rtnl.pack_nlmsg(rtnl.NLMSG_ERROR, 0x100, seq, (-code).to_bytes(4, "little", signed=True) + bytes(16))


def done(seq: int, flags: int = rtnl.NLM_F_MULTI) -> bytes:
    return rtnl.pack_nlmsg(rtnl.NLMSG_DONE, flags, seq, bytes(4))


def link_msg(seq: int, index: int, name: str, flags: int = rtnl.NLM_F_MULTI) -> bytes:
    body = rtnl.pack_ifinfomsg(index=index) + rtnl.pack_str(rtnl.IFLA_IFNAME, name)
    return rtnl.pack_nlmsg(rtnl.RTM_NEWLINK, flags, seq, body)


def test_socket_options_and_binding():
    sock = ScriptedSocket()
    nl = rtnl.Rtnl(sock)
    assert sock.options == [(270, rtnl.NETLINK_CAP_ACK, 1), (270, rtnl.NETLINK_EXT_ACK, 1)]
    assert sock.bound_to == (0, 0)
    nl.close()
    assert sock.closed
    rtnl.Rtnl(ScriptedSocket(sockopt_errno=errno.ENOPROTOOPT))       # an old kernel: plain answers
    with pytest.raises(OSError):
        rtnl.Rtnl(ScriptedSocket(sockopt_errno=errno.EBADF))
    already = ScriptedSocket(bound=True)
    rtnl.Rtnl(already)
    assert already.bound_to == (1234, 0)


def test_a_dump_spans_datagrams_until_done():
    sock = ScriptedSocket(link_msg(1, 1, "lo") + link_msg(1, 2, "eth0"), link_msg(1, 3, "vessel0") + done(1))
    links = rtnl.Rtnl(sock).links()
    assert [(ln.index, ln.name) for ln in links] == [(1, "lo"), (2, "eth0"), (3, "vessel0")]
    assert sock.sent == [rtnl.dump_links().encode(1)]


def test_answers_for_other_sequence_numbers_are_skipped():
    sock = ScriptedSocket(ack(41) + link_msg(7, 9, "stale", flags=0), link_msg(1, 2, "eth0", flags=0) + ack(1))
    nl = rtnl.Rtnl(sock)
    assert nl.link_index("eth0") == 2


def test_sequence_numbers_grow_per_request():
    sock = ScriptedSocket(ack(1), ack(2), ack(3))
    nl = rtnl.Rtnl(sock)
    nl.set_link(2, up=True)
    nl.set_hairpin(2)
    nl.delete_link(2)
    assert [int.from_bytes(m[8:12], "little") for m in sock.sent] == [1, 2, 3]
    assert sock.sent[1] == rtnl.set_hairpin(2).encode(2)


def test_an_error_answer_raises_with_the_errno():
    nl = rtnl.Rtnl(ScriptedSocket(error(1, errno.EEXIST)))
    with pytest.raises(NetlinkError) as caught:
        nl.add_bridge("vessel0", "02:42:0a:58:00:01")
    assert caught.value.code == errno.EEXIST


def test_a_missing_link_has_no_index_but_other_errors_raise():
    nl = rtnl.Rtnl(ScriptedSocket(error(1, errno.ENODEV), error(2, errno.EPERM)))
    assert nl.link_index("nope") is None
    with pytest.raises(NetlinkError, match="Operation not permitted"):
        nl.link_index("eth0")


def test_an_interrupted_dump_is_asked_again():
    first = link_msg(1, 1, "lo", flags=rtnl.NLM_F_MULTI | rtnl.NLM_F_DUMP_INTR) + done(1)
    second = link_msg(2, 1, "lo") + link_msg(2, 2, "eth0") + done(2)
    sock = ScriptedSocket(first, second)
    assert [ln.name for ln in rtnl.Rtnl(sock).links()] == ["lo", "eth0"]
    assert len(sock.sent) == 2


def test_a_dump_that_keeps_being_interrupted_fails():
    interrupted = [done(seq, rtnl.NLM_F_MULTI | rtnl.NLM_F_DUMP_INTR) for seq in range(1, rtnl.DUMP_RETRIES + 1)]
    with pytest.raises(NetlinkError) as caught:
        rtnl.Rtnl(ScriptedSocket(*interrupted)).links()
    assert caught.value.code == errno.EINTR


def test_a_failed_dump_raises():
    failed = rtnl.pack_nlmsg(rtnl.NLMSG_DONE, rtnl.NLM_F_MULTI, 1, (-errno.EMSGSIZE).to_bytes(4, "little", signed=True))
    with pytest.raises(NetlinkError) as caught:
        rtnl.Rtnl(ScriptedSocket(failed)).routes()
    assert caught.value.code == errno.EMSGSIZE


def test_addresses_and_routes_are_filtered():
    def addr(seq: int, index: int, ip: str) -> bytes:
        raw = socket.inet_aton(ip)
        return rtnl.pack_nlmsg(rtnl.RTM_NEWADDR, 2, seq, rtnl.pack_ifaddrmsg(2, 24, index) + rtnl.pack_attr(2, raw))

    def route(seq: int, table: int, dst: str) -> bytes:
        body = rtnl.pack_rtmsg(2, 24, table) + rtnl.pack_attr(rtnl.RTA_DST, socket.inet_aton(dst)) + rtnl.pack_u32(4, 3)
        return rtnl.pack_nlmsg(rtnl.RTM_NEWROUTE, 2, seq, body)

    sock = ScriptedSocket(addr(1, 2, "10.0.0.1") + addr(1, 3, "10.0.1.1") + done(1),
                          route(2, 255, "10.0.0.1") + route(2, 254, "10.0.0.0") + done(2))
    nl = rtnl.Rtnl(sock)
    assert nl.addresses(3) == [Address(3, "10.0.1.1", 24)]
    assert nl.routes() == [Route("10.0.0.0", 24, 3, "", 254)]
