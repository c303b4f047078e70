"""A guest that misbehaves on purpose: descriptors outside its memory,
descriptor chains that loop, indirect descriptor tables that do the same
or claim more than its memory, ring indexes far ahead of the ring, a flood
of notifications, garbage on the vhost-user socket. The guest is
vhost_front.Frontend, a vhost-user frontend of ours with virtqueues we
write by hand; its VF is af_packet on a veth whose far end the test
reads and writes with a raw socket, so both directions are checked byte
for byte.

Each scenario: the guest first proves it works (frames both ways, exact),
then misbehaves; the daemon survives, relay 1 (a memif VF and a
virtio_user VM carrying checked traffic throughout) is undisturbed, the
bad guest's relay gets back every mbuf when it leaves, and a well-behaved
guest on the same relay works again."""
import os
import random
import socket
import struct
import time

import pytest

from harness import memif_vf
from test_control import assert_clean, flowing, sock, start_daemon
from test_relay import vm_gone_and_pool_full
from vhost_front import (BUF, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, F_INDIRECT_DESC,
                         OUTSIDE, RING, RX, SET_MEM_TABLE, SET_VRING_NUM, TX, Frontend, layout)

ETH_TYPE = 0x88b5      # IEEE local experimental: no kernel traffic looks like it
N = 40


def frame(i, size, tag):
    """A frame with a distinct, checkable body."""
    hdr = bytes.fromhex("020000000001") + bytes.fromhex("020000000002") + \
        struct.pack("!H", ETH_TYPE) + struct.pack("!BI", tag, i)
    body = bytes((i * 7 + k + tag) & 0xff for k in range(size - len(hdr)))
    return hdr + body


class Wire:
    """The far end of the VF's veth."""

    def __init__(self, ifname):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_TYPE))
        self.s.bind((ifname, 0))
        self.s.settimeout(0.2)

    def send(self, frames):
        for f in frames:
            self.s.send(f)

    def receive(self, want, timeout=5):
        got, deadline = [], time.time() + timeout
        while len(got) < want and time.time() < deadline:
            try:
                got.append(self.s.recv(65536))
            except socket.timeout:
                pass
        return got


def works_both_ways(guest, wire, tag, indirect=False):
    sizes = [60, 64, 128, 512, 1000, 1514]
    out = [frame(i, sizes[i % len(sizes)], tag) for i in range(N)]
    guest.transmit(out, indirect=indirect)
    assert wire.receive(N) == out, "guest -> VF frames not relayed exactly"
    back = [frame(i, sizes[(i + 3) % len(sizes)], tag + 1) for i in range(N)]
    guest.offer_rx_buffers(N, indirect=indirect)
    wire.send(back)
    got = []
    deadline = time.time() + 5
    while len(got) < N and time.time() < deadline:
        got += guest.received(timeout=0.5, want=N - len(got))
    assert got == back, "VF -> guest frames not relayed exactly"


def bad_tx_descriptors(guest, desc):
    """Publishes N TX descriptors, descriptor i being desc(i) = (addr,
    length, flags[, next]): what each TX scenario below varies."""
    for i in range(N):
        guest.write_desc(TX, i, *desc(i))
    guest.publish(TX, range(N))
    return "guest -> VF"


def tx_outside_memory(d, guest, wire):
    return bad_tx_descriptors(guest, lambda i: (OUTSIDE + i * 4096, 1500))


def tx_chain_loops(d, guest, wire):
    return bad_tx_descriptors(guest, lambda i: (layout(TX)[3] + BUF * i, 64, DESC_F_NEXT,
                                                i))  # next = itself


def indirect_tables_work(d, guest, wire):
    """Not misbehaving: the guest puts every frame and RX buffer behind an
    indirect table (header and frame in two entries), as Linux does for
    TX; then the bad ones below are the only difference."""
    works_both_ways(guest, wire, 30, indirect=True)
    return None


def tx_indirect_table_outside_memory(d, guest, wire):
    return bad_tx_descriptors(guest, lambda i: (OUTSIDE + i * 4096, 32, DESC_F_INDIRECT))


def tx_indirect_table_loops(d, guest, wire):
    for i in range(N):
        buf = layout(TX)[3] + BUF * i
        guest.write_table(TX, i, [(buf, 64, DESC_F_NEXT, 1), (buf, 64, DESC_F_NEXT, 0)])
    guest.publish(TX, range(N))
    return "guest -> VF"


def tx_indirect_table_larger_than_memory(d, guest, wire):
    """A table of 2^28 entries that starts in the guest's memory."""
    return bad_tx_descriptors(guest, lambda i: (layout(TX)[3] + BUF * i, 0xfffffff0,
                                                DESC_F_INDIRECT))


def rx_indirect_table_outside_memory(d, guest, wire):
    for i in range(RING // 2):
        guest.write_table(RX, i, [(OUTSIDE + i * 4096, 1500, DESC_F_WRITE, 0)])
    guest.publish(RX, range(RING // 2))
    wire.send([frame(i, 300, 9) for i in range(N)])
    return "VF -> guest"


def avail_index_far_ahead(d, guest, wire):
    guest.publish(TX, [0xffff] * 8, idx=guest.avail_idx[TX] + 40000)
    guest.publish(RX, [0xffff] * 8, idx=guest.avail_idx[RX] + 40000)
    wire.send([frame(i, 200, 9) for i in range(N)])
    return "both"


def rx_outside_memory(d, guest, wire):
    guest.offer_rx_buffers(RING // 2, addr_of=lambda i: OUTSIDE + i * 4096)
    wire.send([frame(i, 300, 9) for i in range(N)])
    return "VF -> guest"


def notification_flood(d, guest, wire):
    one = struct.pack("<Q", 1)
    deadline = time.time() + 3
    n = 0
    while time.time() < deadline:
        for q in (RX, TX):
            os.write(guest.kick[q], one)
        n += 2
    assert n > 10000, n
    works_both_ways(guest, wire, 50)       # and the guest still works
    return None


def garbage_on_the_socket(d, guest, wire):
    """Each kind of garbage on a connection of its own, the device up."""
    rnd = random.Random(7)
    garbage = [
        struct.pack("<III", 0x7fff, 1, 16) + bytes(16),            # an unknown request
        struct.pack("<III", SET_MEM_TABLE, 1, 0xfffffff0),         # a size no message has
        struct.pack("<III", SET_VRING_NUM, 1, 8) + struct.pack("<II", 500, RING),  # no such ring
        struct.pack("<III", SET_MEM_TABLE, 1, 8 + 32 * 9) + struct.pack("<II", 9, 0)
        + bytes(32 * 9),                                           # more regions than allowed
        bytes(rnd.getrandbits(8) for _ in range(4096)),
    ]
    for junk in garbage:
        try:
            guest.sock.sendall(junk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        d.wait_relay(0, vm_gone_and_pool_full, what="the backend dropped the bad frontend")
        guest.close()
        guest = Frontend(sock(d.workdir, 0)).start()
        wait_guest_up(d)
    guest.close()
    return None


def wait_guest_up(d):
    d.wait_relay(0, lambda r: r["vm_connected"] and r["vf_to_vm"]["active"]
                 and r["vm_to_vf"]["active"], what="the guest is up")


@pytest.mark.parametrize("misbehave", [tx_outside_memory, tx_chain_loops, avail_index_far_ahead,
                                       rx_outside_memory, notification_flood,
                                       garbage_on_the_socket, indirect_tables_work,
                                       tx_indirect_table_outside_memory, tx_indirect_table_loops,
                                       tx_indirect_table_larger_than_memory,
                                       rx_indirect_table_outside_memory],
                         ids=lambda f: f.__name__)
def test_a_misbehaving_guest_hurts_only_its_own_relay(workdir, procs, veths, misbehave):
    vf_if, far_if = veths[0]
    d = start_daemon(workdir, procs, ["-P", "net_af_packet0,iface=%s=0" % vf_if,
                                      "-P", memif_vf(workdir, 1) + "=1"])
    wire = Wire(far_if)
    n = 20000
    vf1, vm1 = flowing(workdir, procs, d, 1, n, 2000, 200)

    # Indirect descriptors negotiated, for the scenarios that use them.
    guest = Frontend(sock(workdir, 0), features=F_INDIRECT_DESC).start()
    wait_guest_up(d)
    works_both_ways(guest, wire, 1)
    before = d.relay(0)
    hurt = misbehave(d, guest, wire)
    time.sleep(1)
    assert d.alive()
    after = d.relay(0)
    if hurt in ("guest -> VF", "both"):
        assert wire.receive(1, timeout=0.5) == [], "a bad descriptor came out as a frame"
        assert after["vm_to_vf"]["tx_pkts"] == before["vm_to_vf"]["tx_pkts"], after
    if hurt in ("VF -> guest", "both"):
        assert guest.received(timeout=0.5, want=1) == []
        assert after["vf_to_vm"]["tx_pkts"] == before["vf_to_vm"]["tx_pkts"], after
        # what the relay could not place is held (one burst at most), or dropped
        # as oversize (the guest refused it while it had buffers posted)
        assert after["vf_to_vm"]["held_pkts"] <= 32, after

    # The other relay never noticed.
    r1 = d.relay(1)
    time.sleep(0.5)
    assert d.relay(1)["vf_to_vm"]["tx_pkts"] > r1["vf_to_vm"]["tx_pkts"]

    guest.close()
    d.wait_relay(0, vm_gone_and_pool_full, what="bad guest gone, every mbuf back")
    wire.receive(1000, timeout=0.3)     # what the VF drained while no guest was there
    good = Frontend(sock(workdir, 0)).start()
    wait_guest_up(d)
    works_both_ways(good, wire, 20)
    good.close()
    d.wait_relay(0, vm_gone_and_pool_full, what="good guest gone, every mbuf back")

    assert_clean(vf1.report(), n)
    assert_clean(vm1.report(), n)
    assert d.stop() == 0
    assert "leak" not in d.log()
