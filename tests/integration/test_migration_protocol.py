"""Live migration at the vhost-user level, checked page by page.

The VM suite migrates a real QEMU guest; this test plays QEMU's part
itself (vhost_front.Frontend) so that it can check what a migration
depends on exactly, with traffic both ways all along:

- while logging is on, every page the relay writes (RX buffers, used
  rings) is marked in the dirty log before the write could be missed;
- GET_VRING_BASE stops a ring at once: the index it returns is the used
  index in guest memory (nothing taken and not yet returned), and the
  relay writes nothing more after the reply, though frames keep coming;
- a destination built the way QEMU builds it (the memory as it was when
  logging began, plus the dirty pages, plus what the guest wrote itself)
  on another relay goes on exactly where the source stopped: the frames
  the source delivered are there, intact, the buffers and TX frames it did
  not get to are served by the destination, in order.

Each VF is af_packet on a veth whose far end the test reads and writes."""
import threading
import time

from test_control import sock, start_daemon
from test_hostile_guest import Wire, frame, works_both_ways
from test_relay import vm_gone_and_pool_full
from vhost_front import BUF, F_LOG_ALL, LOG_PAGE, RING, RX, TX, Frontend, layout


def relay_written_pages(guest):
    """The pages only the backend writes: the used rings and the RX
    buffers. The rest (descriptors, avail rings, TX buffers) the guest
    writes itself, and QEMU tracks those writes on its own."""
    pages = set()
    for q in guest.vqs:
        _desc, _avail, used, bufs = layout(q)
        pages.add(used // LOG_PAGE)
        if q % 2 == RX:
            pages |= set(range(bufs // LOG_PAGE, (bufs + RING * BUF) // LOG_PAGE))
    return pages


def changed_pages(a, b):
    return {p for p in range(len(a) // LOG_PAGE)
            if a[p * LOG_PAGE:(p + 1) * LOG_PAGE] != b[p * LOG_PAGE:(p + 1) * LOG_PAGE]}


def assert_logged(guest, before, when):
    missed = (changed_pages(before, bytes(guest.mem)) & relay_written_pages(guest)) - \
        guest.dirty_pages()
    assert not missed, "%s: the relay wrote guest pages %s without marking them in the " \
        "dirty log" % (when, sorted(missed))


def migrated_memory(guest, before):
    """The destination's memory as QEMU's precopy would leave it."""
    image = bytearray(before)
    mem = bytes(guest.mem)
    for p in guest.dirty_pages() | (set(range(len(mem) // LOG_PAGE)) -
                                    relay_written_pages(guest)):
        image[p * LOG_PAGE:(p + 1) * LOG_PAGE] = mem[p * LOG_PAGE:(p + 1) * LOG_PAGE]
    return bytes(image)


def send_paced(wire, frames):
    """About 2000 frames a second: a stream the relay is in the middle of
    when the ring stops."""
    for f in frames:
        wire.send([f])
        time.sleep(0.0005)


def wait_up(d, rid):
    d.wait_relay(rid, lambda r: r["vm_connected"] and r["vf_to_vm"]["active"]
                 and r["vm_to_vf"]["active"], what="the guest is up on relay %d" % rid)


def test_migration_dirty_log_ring_stop_and_handover(workdir, procs, veths):
    d = start_daemon(workdir, procs, ["-P", "net_af_packet0,iface=%s=0" % veths[0][0],
                                      "-P", "net_af_packet1,iface=%s=1" % veths[1][0]])
    wires = [Wire(veths[0][1]), Wire(veths[1][1])]
    src = Frontend(sock(workdir, 0)).start()
    assert src.offered & F_LOG_ALL, "the relay must offer dirty-page logging (VHOST_F_LOG_ALL)"
    wait_up(d, 0)
    works_both_ways(src, wires[0], 1)

    # Precopy: logging on, traffic both ways.
    src.start_logging()
    before = bytes(src.mem)
    works_both_ways(src, wires[0], 3)
    assert_logged(src, before, "under traffic")

    # The stop, with the relay in the middle of filling RX buffers (every
    # RX slot posted, a paced stream coming in at the VF) and TX frames
    # queued on both sides of it.
    stream = [frame(i, 60 + (i * 37) % 1400, 9) for i in range(1000)]
    sender = threading.Thread(target=send_paced, args=(wires[0], stream))
    out = [frame(i, 60 + (i * 53) % 1400, 11) for i in range(40)]
    first_rx = src.used_idx(RX)
    src.offer_rx_buffers(RING)
    src.transmit(out[:20])
    sender.start()
    deadline = time.time() + 5
    while ((src.used_idx(RX) - first_rx) & 0xffff) < 16 or \
            src.used_idx(TX) != src.avail_idx[TX]:
        assert time.time() < deadline, "the relay is not relaying"
    rx_base = src.get_vring_base(RX)
    stopped = bytes(src.mem)
    assert rx_base == src.used_idx(RX), "GET_VRING_BASE says %d, the used ring %d: a buffer " \
        "was taken and not returned" % (rx_base, src.used_idx(RX))
    delivered = (rx_base - first_rx) & 0xffff
    assert delivered < RING, "the ring was full before it stopped: the stop was not under traffic"
    src.transmit(out[20:])       # the guest goes on; the stopped relay must not take these
    time.sleep(0.3)
    tx_base = src.get_vring_base(TX)
    assert tx_base == src.used_idx(TX) == (src.avail_idx[TX] - 20) & 0xffff, \
        (tx_base, src.used_idx(TX), src.avail_idx[TX])
    sender.join()
    moved = changed_pages(stopped, bytes(src.mem)) & relay_written_pages(src)
    assert not moved, "the relay wrote guest pages %s after the ring was stopped" % sorted(moved)
    assert_logged(src, before, "up to the stop")
    assert wires[0].receive(20) == out[:20]

    # The destination, on relay 1, from what a precopy would have sent.
    dst = Frontend(sock(workdir, 1), resume=src)
    dst.mem[:] = migrated_memory(src, before)
    dst.start()
    src.close()
    wait_up(d, 1)
    assert dst.received(want=delivered, timeout=1) == stream[:delivered], \
        "frames the source relay delivered arrived damaged (a write missing from the log)"
    assert wires[1].receive(20) == out[20:], \
        "the TX frames the source did not take were not sent by the destination"
    assert wires[0].receive(1, timeout=0.3) == [], "a TX frame went out twice"
    # The RX buffers the source did not fill are the destination's now.
    rest = [frame(i, 60 + (i * 41) % 1400, 13) for i in range(RING - delivered)]
    wires[1].send(rest)
    got = []
    deadline = time.time() + 5
    while len(got) < len(rest) and time.time() < deadline:
        got += dst.received(timeout=0.5, want=len(rest) - len(got))
    assert got == rest, "the destination did not go on at the source's ring position"
    works_both_ways(dst, wires[1], 20)

    dst.close()
    for rid in (0, 1):
        r = d.wait_relay(rid, vm_gone_and_pool_full, what="guest gone, every mbuf back")
        for direction in ("vm_to_vf", "vf_to_vm"):
            c = r[direction]
            assert c["rx_pkts"] == c["tx_pkts"] + c["drop_full_pkts"] + \
                c["drop_unconnected_pkts"], r
    assert d.stop() == 0
    assert "leak" not in d.log()
