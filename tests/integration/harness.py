"""Real processes for the integration tests: the daemon, the traffic peer
(tests/peer/vfwd_peer.c) and Debian's dpdk-testpmd, each its own DPDK
process with its own --file-prefix, plus a DPDK telemetry client.

Every DPDK peer polls a core: tests run one at a time (no xdist)."""
import glob
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("VFWD_BUILD", os.path.join(REPO, "build"))
DAEMON = os.path.join(BUILD, "virtio-forwarder")
PEER = os.path.join(BUILD, "vfwd-peer")
HUGE_DIR = "/dev/hugepages"


def unique(prefix):
    return "%s%s" % (prefix, uuid.uuid4().hex[:8])


def cleanup_prefix(prefix):
    """Removes what a killed DPDK process leaves: its runtime directory and
    hugepage files (or the pages stay reserved)."""
    for f in glob.glob(os.path.join(HUGE_DIR, prefix + "map_*")) + \
            glob.glob(os.path.join(HUGE_DIR, prefix + "*")):
        try:
            os.unlink(f)
        except OSError:
            pass
    subprocess.run(["rm", "-rf", "/var/run/dpdk/" + prefix])


class Process:
    """A child process whose output goes to a log file. started_text: the
    log line that says its ports are started (see open_gate)."""
    started_text = None

    def __init__(self, argv, log_path, env=None):
        self.argv = argv
        self.log_path = log_path
        self.logf = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, text, timeout=10, count=1):
        """Until the log says text count times; fails at once if the
        process exits first."""
        deadline = time.time() + timeout
        while self.log().count(text) < count:
            assert self.alive(), self.log()[-3000:]
            assert time.time() < deadline, "no %r in %ss; log:\n%s" % (
                text, timeout, self.log()[-3000:])
            time.sleep(0.1)

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %ss; log:\n%s"
                                 % (self.argv[0], timeout, self.log()[-3000:]))

    def stop(self, timeout=20):
        """SIGTERM and wait; SIGKILL if it hangs (and fail)."""
        if not self.alive():
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s ignored SIGTERM for %ss; log:\n%s"
                                 % (self.argv[0], timeout, self.log()[-3000:]))

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()


def open_gate(go, *peers, timeout=60):
    """Creates the start file go once every peer has started its ports.
    A virtio_user guest's port start flushes what its vhost backend already
    wrote to the RX ring, and the relay sees that ring from the guest's
    configure step on: frames sent before the start would be lost there,
    not in the relay."""
    for p in peers:
        p.wait_log(p.started_text, timeout)
    open(go, "w").close()


class Telemetry:
    """Client of a DPDK process's telemetry socket (the v2 protocol)."""

    def __init__(self, prefix, timeout=20):
        path = "/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.info = json.loads(self.sock.recv(65536))

    def query(self, cmd):
        self.sock.send(cmd.encode())
        reply = json.loads(self.sock.recv(1 << 20))
        return reply[cmd.split(",")[0]]

    def close(self):
        self.sock.close()


class Daemon(Process):
    """virtio-forwarder in the foreground, started and waited for through
    its sd_notify READY=1, exactly as systemd would. wrap: a command it
    runs under (valgrind, for one)."""

    def __init__(self, workdir, args, config=None, ready=True, timeout=60,
                 prefix=None, lcores=None, eal=(), binary=DAEMON, wrap=()):
        self.workdir = workdir
        self.prefix = prefix or unique("vfwd")
        self.notify_path = os.path.join(workdir, "notify-%s.sock" % self.prefix)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        argv = list(wrap) + [binary, "-n", "-H", HUGE_DIR, "-p", workdir]
        if config is not None:
            cfg_path = os.path.join(workdir, "virtioforwarder-%s.conf" % self.prefix)
            with open(cfg_path, "w") as f:
                f.write(config)
            argv += ["--config=" + cfg_path]
        argv += list(args) + ["--", "--file-prefix=" + self.prefix]
        if lcores:
            argv += ["--lcores=" + lcores]
        argv += list(eal)
        super().__init__(argv, os.path.join(workdir, "daemon-%s.log" % self.prefix), env)
        self._tel = None
        if ready:
            self.wait_ready(timeout)

    def wait_ready(self, timeout):
        self.notify.settimeout(0.5)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.alive():
                raise AssertionError("daemon exited with %s before READY; log:\n%s"
                                     % (self.proc.returncode, self.log()[-4000:]))
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                continue
            if "READY=1" in msg.split("\n"):
                # Go on reading, as systemd does: a notify socket nobody
                # reads fills up, and the daemon's next sd_notify blocks.
                self.notify.settimeout(None)
                threading.Thread(target=self._drain_notify, daemon=True).start()
                return
        raise AssertionError("daemon not READY within %ss; log:\n%s" % (timeout, self.log()[-4000:]))

    def _drain_notify(self):
        try:
            while self.notify.recv(4096):
                pass
        except OSError:
            pass

    @property
    def tel(self):
        if self._tel is None:
            self._tel = Telemetry(self.prefix)
        return self._tel

    def relay(self, rid):
        return self.tel.query("/virtio_forwarder/relay,%d" % rid)

    def wait_relay(self, rid, pred, timeout=20, what="condition"):
        deadline = time.time() + timeout
        while True:
            r = self.relay(rid)
            if pred(r):
                return r
            if time.time() > deadline:
                raise AssertionError("relay %d: %s not reached in %ss: %s\nlog:\n%s"
                                     % (rid, what, timeout, json.dumps(r), self.log()[-3000:]))
            time.sleep(0.1)

    def stop(self, timeout=30):
        """SIGTERM, as systemd stops it; the log is kept for assertions."""
        if self._tel:
            self._tel.close()
            self._tel = None
        rc = super().stop(timeout)
        self._close_notify()
        return rc

    def _close_notify(self):
        # shutdown first: it wakes the reader thread, which close alone
        # would leave blocked on a descriptor number that may be reused.
        try:
            self.notify.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.notify.close()
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)

    def kill(self):
        if self._tel:
            self._tel.close()
            self._tel = None
        super().kill()
        self._close_notify()
        cleanup_prefix(self.prefix)


class Peer(Process):
    """The traffic peer: sends numbered frames and checks every byte of
    what it receives. Its JSON report comes at exit."""
    started_text = "vfwd-peer: ports started"

    def __init__(self, workdir, vdevs, opts, lcore="0", prefix=None, eal=()):
        self.prefix = prefix or unique("peer")
        self.report_path = os.path.join(workdir, "report-%s.json" % self.prefix)
        argv = [PEER, "-l", lcore, "--file-prefix=" + self.prefix, "--no-pci",
                "--single-file-segments", "--huge-dir=" + HUGE_DIR] + list(eal)
        argv += ["--vdev=" + v for v in vdevs]
        argv += ["--", "--report", self.report_path] + [str(o) for o in opts]
        super().__init__(argv, os.path.join(workdir, "peer-%s.log" % self.prefix))

    def report(self, timeout=90):
        """The report; exit status 1 (a check failed) still has one, and
        the caller's assertions say what failed with the daemon's view."""
        rc = self.wait(timeout)
        assert rc in (0, 1), "peer exited %s; log:\n%s" % (rc, self.log()[-3000:])
        with open(self.report_path) as f:
            return json.load(f)

    def kill(self):
        super().kill()
        cleanup_prefix(self.prefix)


def start_testpmd(workdir, vdevs, fwd_args, prefix=None):
    """Debian's dpdk-testpmd as a peer: two lcores mapped on CPU 0 (the
    daemon's worker polls CPU 1)."""
    prefix = prefix or unique("pmd")
    # Line-buffered, so that its log says when its ports have started.
    argv = ["stdbuf", "-oL", "dpdk-testpmd", "--lcores=0@0,1@0", "--file-prefix=" + prefix, "--no-pci",
            "--single-file-segments", "--huge-dir=" + HUGE_DIR]
    argv += ["--vdev=" + v for v in vdevs]
    argv += ["--"] + list(fwd_args)
    p = Process(argv, os.path.join(workdir, "testpmd-%s.log" % prefix))
    p.prefix = prefix
    p.started_text = "start packet forwarding"  # with --auto-start
    return p


# Rings of 4096 slots: on 2 shared cores a peer can be descheduled for a
# few milliseconds, and the test is about the relay, not about that.
def memif_vf(workdir, n=0, rsize=12):
    """The daemon's side of a memif link: the stand-in VF."""
    return "net_memif%d,role=client,socket=%s/memif%d.sock,id=0,rsize=%d" % (
        n, workdir, n, rsize)


def memif_peer(workdir, n=0, rsize=12):
    return "net_memif%d,role=server,socket=%s/memif%d.sock,id=0,rsize=%d" % (
        n, workdir, n, rsize)
