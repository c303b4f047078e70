"""A vhost-user frontend (the part QEMU plays) written from the protocol
spec, with a guest's split virtqueues in a memfd it shares: a guest the
tests control down to each descriptor, so that they can misbehave on
purpose where QEMU and virtio_user never would.

One queue pair by default, or as many as asked (every virtqueue is made
before any is started, so the backend sees them all at once); no
offloads unless asked (features=), no protocol features (rings start
enabled at SET_VRING_KICK), a 10-byte legacy virtio-net header. With
F_INDIRECT_DESC, frames and RX buffers can go through indirect descriptor
tables. Virtqueue 2p is the guest's RX queue of
pair p (the relay writes VF->VM frames into it), 2p+1 its TX queue.

It also plays QEMU's part in a live migration: dirty-page logging
(start_logging, dirty_pages), stopping a ring (get_vring_base), and a
destination that takes over the guest's memory and ring positions
(Frontend(..., resume=source))."""
import mmap
import os
import socket
import struct
import time

# vhost-user requests (docs/interop/vhost-user.rst)
SET_OWNER, GET_FEATURES, SET_FEATURES = 3, 1, 2
SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 5, 8, 9, 10
GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL = 11, 12, 13
SET_LOG_BASE = 6
VERSION, REPLY = 0x1, 0x4
F_GUEST_CSUM = 1 << 1     # VIRTIO_NET_F_GUEST_CSUM: the driver takes checksum flags
F_LOG_ALL = 1 << 26        # VHOST_F_LOG_ALL: the backend logs what it writes
F_INDIRECT_DESC = 1 << 28  # VIRTIO_RING_F_INDIRECT_DESC: descriptors may point to tables
HDR_F_DATA_VALID = 2       # virtio_net_hdr.flags: the checksum was verified
VRING_F_LOG = 1            # SET_VRING_ADDR flag: log the used ring's writes
LOG_PAGE = 4096            # one bit of the dirty log per page of guest memory

DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT = 1, 2, 4
AVAIL_F_NO_INTERRUPT = 1
NET_HDR_LEN = 10           # struct virtio_net_hdr, legacy, no mergeable buffers

RING = 256
BUF = 2048
GUEST_VA = 0x7f0000000000  # what this "QEMU" says its mapping is at
RX, TX = 0, 1              # the virtqueues of pair 0
# Each virtqueue: descriptors, avail and used rings on their own pages,
# then a buffer per descriptor. Offsets in the memfd are guest physical
# addresses.
QUEUE_SPAN = 0x4000 + RING * BUF
OUTSIDE = 0x10_0000_0000   # a guest physical address no region covers


def layout(q):
    """(descriptors, avail ring, used ring, buffers) of virtqueue q."""
    base = q * QUEUE_SPAN
    return base, base + 0x1000, base + 0x2000, base + 0x4000


class Frontend:
    def __init__(self, path, timeout=10, pairs=1, resume=None, features=0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.time() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.vqs = range(2 * pairs)
        self.mem_size = 2 * pairs * QUEUE_SPAN
        self.memfd = os.memfd_create("guest-ram")
        os.ftruncate(self.memfd, self.mem_size)
        self.mem = mmap.mmap(self.memfd, self.mem_size)
        self.kick = {q: os.eventfd(0, os.EFD_NONBLOCK) for q in self.vqs}
        self.call = {q: os.eventfd(0, os.EFD_NONBLOCK) for q in self.vqs}
        self.avail_idx = {q: 0 for q in self.vqs}   # what we published
        self.used_seen = {q: 0 for q in self.vqs}   # what we consumed of the used rings
        self.base = {q: 0 for q in self.vqs}        # where the backend starts each ring
        self.stopped_at = {}                        # where it stopped each (GET_VRING_BASE)
        self.features = features
        self.log = None                             # the dirty log, once logging
        if resume:
            # A migration's destination: the guest's memory as the source
            # left it, each ring going on where the source stopped it.
            self.mem[:] = resume.mem[:]
            self.avail_idx, self.used_seen = dict(resume.avail_idx), dict(resume.used_seen)
            self.base = dict(resume.stopped_at)

    # ---- the vhost-user channel ----

    def send(self, req, payload=b"", fds=(), flags=VERSION):
        msg = struct.pack("<III", req, flags, len(payload)) + payload
        if fds:
            socket.send_fds(self.sock, [msg], list(fds))
        else:
            self.sock.sendall(msg)

    def recv_reply(self, size):
        hdr = self._recv_exact(12)
        _req, flags, got = struct.unpack("<III", hdr)
        assert flags & REPLY and got == size, (flags, got)
        return self._recv_exact(size)

    def recv_u64(self):
        return struct.unpack("<Q", self.recv_reply(8))[0]

    def _recv_exact(self, n):
        data = b""
        self.sock.settimeout(10)
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the backend closed the vhost-user connection")
            data += chunk
        return data

    def start(self):
        """Everything QEMU does to bring up a legacy virtio-net device."""
        self.send(SET_OWNER)
        self.send(GET_FEATURES)
        self.offered = self.recv_u64()
        assert self.features & ~self.offered == 0, \
            "the backend does not offer features %#x" % (self.features & ~self.offered)
        self.send(SET_FEATURES, struct.pack("<Q", self.features))
        self.send(SET_MEM_TABLE, struct.pack("<II", 1, 0) +
                  struct.pack("<QQQQ", 0, self.mem_size, GUEST_VA, 0), [self.memfd])
        for q in self.vqs:
            self.send(SET_VRING_NUM, struct.pack("<II", q, RING))
        for q in self.vqs:
            desc, avail, used, _bufs = layout(q)
            self.mem[avail:avail + 2] = struct.pack("<H", AVAIL_F_NO_INTERRUPT)
            self.send(SET_VRING_BASE, struct.pack("<II", q, self.base[q]))
            self.set_vring_addr(q)
            self.send(SET_VRING_CALL, struct.pack("<Q", q), [self.call[q]])
            self.send(SET_VRING_KICK, struct.pack("<Q", q), [self.kick[q]])
        return self

    def set_vring_addr(self, q, flags=0):
        desc, avail, used, _bufs = layout(q)
        # the last address is the used ring's guest physical one, for its log
        self.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", q, flags, GUEST_VA + desc,
                                              GUEST_VA + used, GUEST_VA + avail, used))

    # ---- a live migration, as QEMU's source side runs it ----

    def start_logging(self):
        """What QEMU does when a migration starts: share a log (a bit per
        page), ask the backend to log every write, the used rings too."""
        pages = (self.mem_size + LOG_PAGE - 1) // LOG_PAGE
        self.log_size = (pages + 7) // 8
        self.logfd = os.memfd_create("dirty-log")
        os.ftruncate(self.logfd, mmap.PAGESIZE * ((self.log_size + mmap.PAGESIZE - 1) //
                                                  mmap.PAGESIZE))
        self.log = mmap.mmap(self.logfd, self.log_size)
        self.send(SET_LOG_BASE, struct.pack("<QQ", self.log_size, 0), [self.logfd])
        self.recv_reply(0)
        self.features |= F_LOG_ALL
        self.send(SET_FEATURES, struct.pack("<Q", self.features))
        for q in self.vqs:
            self.set_vring_addr(q, VRING_F_LOG)

    def dirty_pages(self):
        """The pages the backend marked written, as page numbers."""
        log = bytes(self.log)
        return {8 * i + b for i, byte in enumerate(log) for b in range(8) if byte >> b & 1}

    def get_vring_base(self, q):
        """Stops ring q (QEMU stops each ring so at the end of a migration)
        and returns where the backend stopped: the next avail entry it would
        have taken."""
        self.send(GET_VRING_BASE, struct.pack("<II", q, 0))
        index, num = struct.unpack("<II", self.recv_reply(8))
        assert index == q, (index, q)
        self.stopped_at[q] = num
        return num

    def close(self):
        if self.sock.fileno() < 0:
            return
        for fd in list(self.kick.values()) + list(self.call.values()):
            os.close(fd)
        self.sock.close()
        self.mem.close()
        os.close(self.memfd)
        if self.log is not None:
            self.log.close()
            os.close(self.logfd)

    # ---- the guest's side of the rings ----

    def write_desc(self, q, i, addr, length, flags=0, nxt=0):
        base = layout(q)[0] + 16 * i
        self.mem[base:base + 16] = struct.pack("<QIHH", addr, length, flags, nxt)

    def write_table(self, q, i, entries):
        """Makes descriptor i an indirect one, pointing to a table of
        entries (addr, len, flags, next) at the end of buffer i: frames
        and RX buffers given to tables leave its last 512 bytes free."""
        table = layout(q)[3] + BUF * (i + 1) - 16 * len(entries)
        for k, (addr, length, flags, nxt) in enumerate(entries):
            self.mem[table + 16 * k:table + 16 * k + 16] = struct.pack("<QIHH", addr, length,
                                                                       flags, nxt)
        self.write_desc(q, i, table, 16 * len(entries), DESC_F_INDIRECT)

    def publish(self, q, heads, idx=None):
        """Puts descriptor heads on the avail ring and moves its index (to
        idx, if given: a guest may write any number there)."""
        avail = layout(q)[1]
        for h in heads:
            slot = avail + 4 + 2 * (self.avail_idx[q] % RING)
            self.mem[slot:slot + 2] = struct.pack("<H", h)
            self.avail_idx[q] = (self.avail_idx[q] + 1) & 0xffff
        if idx is not None:
            self.avail_idx[q] = idx & 0xffff
        self.mem[avail + 2:avail + 4] = struct.pack("<H", self.avail_idx[q])

    def used_idx(self, q):
        used = layout(q)[2]
        return struct.unpack("<H", self.mem[used + 2:used + 4])[0]

    def transmit(self, frames, pair=0, indirect=False):
        """Frames out of the guest, one descriptor each (header + frame),
        or with indirect, a table each: the header, then the frame."""
        q = 2 * pair + 1
        bufs = layout(q)[3]
        heads = []
        for k, frame in enumerate(frames):
            i = (self.avail_idx[q] + k) % RING
            addr = bufs + BUF * i
            self.mem[addr:addr + NET_HDR_LEN + len(frame)] = bytes(NET_HDR_LEN) + frame
            if indirect:
                self.write_table(q, i, [(addr, NET_HDR_LEN, DESC_F_NEXT, 1),
                                        (addr + NET_HDR_LEN, len(frame), 0, 0)])
            else:
                self.write_desc(q, i, addr, NET_HDR_LEN + len(frame))
            heads.append(i)
        self.publish(q, heads)

    def offer_rx_buffers(self, n, addr_of=None, pair=0, indirect=False):
        """n writable buffers for the relay to fill; addr_of(i) may point
        them anywhere; with indirect, each is the one entry of a table."""
        q = 2 * pair
        bufs = layout(q)[3]
        heads = []
        for k in range(n):
            i = (self.avail_idx[q] + k) % RING
            addr = addr_of(i) if addr_of else bufs + BUF * i
            if indirect:
                self.write_table(q, i, [(addr, BUF - 512, DESC_F_WRITE, 0)])
            else:
                self.write_desc(q, i, addr, BUF, DESC_F_WRITE)
            heads.append(i)
        self.publish(q, heads)

    def received(self, timeout=5, want=1, pair=0):
        """Frames the relay put in the guest's RX ring since the last
        call, without their virtio-net header."""
        return [f for _hdr, f in self.received_with_header(timeout, want, pair)]

    def received_with_header(self, timeout=5, want=1, pair=0):
        """(virtio-net header, frame) of each frame received since the last
        call."""
        q = 2 * pair
        used = layout(q)[2]
        deadline = time.time() + timeout
        while ((self.used_idx(q) - self.used_seen[q]) & 0xffff) < want and \
                time.time() < deadline:
            time.sleep(0.01)
        frames = []
        while self.used_seen[q] != self.used_idx(q):
            slot = used + 4 + 8 * (self.used_seen[q] % RING)
            head, length = struct.unpack("<II", self.mem[slot:slot + 8])
            d = layout(q)[0] + 16 * head
            addr, _len, flags = struct.unpack("<QIH", self.mem[d:d + 14])
            if flags & DESC_F_INDIRECT:      # the buffer is the table's one entry
                addr = struct.unpack("<Q", self.mem[addr:addr + 8])[0]
            frames.append((bytes(self.mem[addr:addr + NET_HDR_LEN]),
                           bytes(self.mem[addr + NET_HDR_LEN:addr + length])))
            self.used_seen[q] = (self.used_seen[q] + 1) & 0xffff
        return frames
