"""The VF's verdict on a frame's checksum reaches the guest.

With -T the relay offers VIRTIO_NET_F_GUEST_CSUM and enables the VF's RX
checksum offloads; a frame whose TCP or UDP checksum the VF verified
arrives with VIRTIO_NET_HDR_F_DATA_VALID, and the guest need not verify
it again. A frame with a wrong checksum arrives without it (the guest
verifies, and drops it), and so does everything without -T, where
GUEST_CSUM is not offered at all. The VF is net_tap, whose RX checksum
offload is done in software by the PMD; the host kernel's end of the tap
sends the frames, the guest is vhost_front.Frontend reading each frame's
virtio-net header in its own memory."""
import socket
import struct
import subprocess

import pytest

from harness import unique
from test_control import sock, start_daemon
from test_hostile_guest import wait_guest_up
from vhost_front import F_GUEST_CSUM, HDR_F_DATA_VALID, Frontend


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(proto, i, good):
    """Ethernet/IPv4 and a TCP or UDP segment with a checksum that is right,
    or off by one."""
    payload = bytes((i * 13 + k) & 0xff for k in range(40 + i * 7))
    src, dst = bytes([10, 98, 0, 1]), bytes([10, 98, 0, 2])
    if proto == socket.IPPROTO_TCP:
        l4 = struct.pack("!HHIIBBHHH", 4000 + i, 5000, i, 0, 5 << 4, 0x18, 65535, 0, 0)
        at = 16
    else:
        l4 = struct.pack("!HHHH", 4000 + i, 5000, 8 + len(payload), 0)
        at = 6
    l4 += payload
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    c = csum16(pseudo + l4)
    c = c or 0xffff
    if not good:
        c = (c + 1) & 0xffff or 1
    l4 = l4[:at] + struct.pack("!H", c) + l4[at + 2:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), i, 0, 64, proto, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum16(ip)) + ip[12:]
    return bytes.fromhex("020000000002" "020000000001" "0800") + ip + l4


@pytest.mark.parametrize("tso", [True, False], ids=["with -T", "without -T"])
def test_the_vf_checksum_verdict_reaches_the_guest(workdir, procs, tso):
    tap_name = unique("vfck")[:15]          # net_tap removes it with the port
    d = start_daemon(workdir, procs, (["-T"] if tso else []) +
                     ["-P", "net_tap0,iface=%s=0" % tap_name])
    subprocess.run(["sysctl", "-q", "net.ipv6.conf.%s.disable_ipv6=1" % tap_name], check=True)
    subprocess.run(["ip", "link", "set", tap_name, "up"], check=True)
    # net_tap keeps an mbuf in each slot of its RX ring while it runs
    base = d.relay(0)["pool_in_use"]
    guest = Frontend(sock(workdir, 0))
    guest.features = F_GUEST_CSUM if tso else 0
    guest.start()
    assert bool(guest.offered & F_GUEST_CSUM) == tso, hex(guest.offered)
    wait_guest_up(d)

    cases = [(p, good) for p in (socket.IPPROTO_TCP, socket.IPPROTO_UDP) for good in (True, False)]
    sent = [frame(p, i, good) for i, (p, good) in enumerate(cases * 5)]
    guest.offer_rx_buffers(len(sent))
    wire = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    wire.bind((tap_name, 0))
    for f in sent:
        wire.send(f)
    got = []
    while len(got) < len(sent):
        more = guest.received_with_header(timeout=5, want=len(sent) - len(got))
        assert more, "%d of %d frames arrived" % (len(got), len(sent))
        got += more
    assert [f for _h, f in got] == sent, "frames not relayed exactly"
    for (hdr, f), (proto, good) in zip(got, cases * 5):
        want = HDR_F_DATA_VALID if tso and good else 0
        assert hdr[0] == want, "%s frame with a %s checksum: header flags %#x, want %#x" % (
            "TCP" if proto == socket.IPPROTO_TCP else "UDP", "good" if good else "bad",
            hdr[0], want)
    guest.close()
    d.wait_relay(0, lambda r: not r["vm_connected"] and r["pool_in_use"] == base,
                 what="guest gone, every mbuf back")
    assert d.stop() == 0
