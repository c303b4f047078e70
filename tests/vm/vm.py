"""Real QEMU guests on the daemon's vhost-user sockets, and the host kernel
as the VF side through net_tap.

The guest is the Debian kernel plus our initramfs (build-guest.sh); its
/init (init.sh) runs the steps given on the kernel command line and
prints VFWD-<NAME> k=v ... markers on the serial console, which is a file
here. QEMU runs under TCG unless the CPU really offers KVM, pinned to CPU 0
(the daemon's worker polls CPU 1)."""
import json
import os
import re
import socket
import subprocess
import time

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU = "qemu-system-x86_64"
MEM = "256M"


def build_guest():
    """(kernel, initramfs): built once, then taken from the cache."""
    out = subprocess.run(["bash", os.path.join(HERE, "build-guest.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    return out[-2], out[-1]


def accel():
    """KVM only when the CPU says it can run it: /dev/kvm may exist here
    without vmx/svm (a paravirtual module), and then KVM does not work."""
    forced = os.environ.get("VFWD_VM_ACCEL")
    if forced:
        return forced
    with open("/proc/cpuinfo") as f:
        flags = re.search(r"^flags\s*:(.*)$", f.read(), re.M)
    has_virt = flags and ({"vmx", "svm"} & set(flags.group(1).split()))
    return "kvm" if has_virt and os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg"


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def disable_ipv6(ifname):
    """Before the link goes up: no router solicitations or MLD reports, so
    the only packets on the link are the test's own."""
    with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % ifname, "w") as f:
        f.write("1")


def wait_iface(ifname, timeout=10):
    deadline = time.time() + timeout
    while not os.path.exists("/sys/class/net/" + ifname):
        if time.time() > deadline:
            raise AssertionError("interface %s did not appear" % ifname)
        time.sleep(0.05)


def guest_mac(n):
    return "52:54:00:99:%02x:02" % n


class Tap:
    """The host kernel's end of a relay whose VF is `net_tapK,iface=vfwdtapN`.
    Subnet 10.99.N.0/24, private to this link: the host is .1, the guest .2.
    Static neighbour entries on both ends: no ARP, exact packet counts."""

    def __init__(self, n, port=0):
        self.n = n
        self.name = "vfwdtap%d" % n
        self.host_ip = "10.99.%d.1" % n
        self.guest_ip = "10.99.%d.2" % n
        # A fixed MAC: the guest's static ARP entry outlives a daemon
        # restart. The PMD sets it on the kernel's interface at every
        # port start, so it must be the PMD's (devarg), not set with ip.
        self.mac = "02:99:00:00:%02x:01" % n
        self.vdev = "net_tap%d,iface=%s,mac=%s" % (port, self.name, self.mac)
        self.guest_mac = guest_mac(n)

    def vf(self, rid):
        """The daemon's -P argument."""
        return "%s=%d" % (self.vdev, rid)

    def configure(self, mtu=None, address=True):
        """After the daemon created the tap (READY): again after every
        daemon restart, as the tap is created anew each time."""
        wait_iface(self.name)
        disable_ipv6(self.name)
        if mtu:
            sh("ip", "link", "set", self.name, "mtu", str(mtu))
        if address:
            sh("ip", "addr", "replace", self.host_ip + "/24", "dev", self.name)
        sh("ip", "link", "set", self.name, "up")
        if address:
            sh("ip", "neigh", "replace", self.guest_ip, "lladdr", self.guest_mac,
               "dev", self.name, "nud", "permanent")

    def counters(self):
        """The kernel's view: tx = frames it handed to the relay's VF, rx =
        frames the relay sent it."""
        base = "/sys/class/net/%s/statistics/" % self.name
        c = {}
        for k in ("tx_packets", "rx_packets", "tx_bytes", "rx_bytes"):
            with open(base + k) as f:
                c[k] = int(f.read())
        return c


class Bridge:
    """A host bridge over several relays' taps: the VFs of the two relays
    in a live migration are on one L2 network, as two VFs of one NIC."""

    def __init__(self, n, taps):
        self.n = n
        self.name = "vfwdbr%d" % n
        self.host_ip = "10.99.%d.1" % n
        self.guest_ip = "10.99.%d.2" % n
        self.mac = "02:99:00:00:%02x:01" % n
        self.guest_mac = guest_mac(n)
        self.taps = taps
        subprocess.run(["ip", "link", "del", self.name], stderr=subprocess.DEVNULL)
        sh("ip", "link", "add", self.name, "address", self.mac, "type", "bridge",
           "forward_delay", "0", "stp_state", "0")
        disable_ipv6(self.name)
        sh("ip", "addr", "add", self.host_ip + "/24", "dev", self.name)
        sh("ip", "link", "set", self.name, "up")
        sh("ip", "neigh", "replace", self.guest_ip, "lladdr", self.guest_mac,
           "dev", self.name, "nud", "permanent")

    def attach(self):
        for t in self.taps:
            t.configure(address=False)
            sh("ip", "link", "set", t.name, "master", self.name)

    def delete(self):
        subprocess.run(["ip", "link", "del", self.name], stderr=subprocess.DEVNULL)


MARKER = re.compile(r"^VFWD-([A-Z]+)(.*)$", re.M)


def parse_fields(rest):
    d = {}
    for w in rest.split():
        if "=" in w:
            k, v = w.split("=", 1)
            # Numbers become ints; bit strings (features=0010...) stay strings.
            d[k] = int(v) if re.fullmatch(r"0|-?[1-9]\d*", v) else v
    return d


class Guest(harness.Process):
    """A QEMU guest on a vhost-user socket.

    server=False: QEMU connects to the daemon's socket (daemon in server
    mode), reconnecting if it goes. server=True: QEMU owns the socket and
    the daemon connects (client mode); QEMU then waits for it at start-up."""

    def __init__(self, workdir, image, sock, steps, name="vm", n=0, peermac=None,
                 server=False, queues=1, smp=1, mtu=None, device="", reboot=False,
                 incoming=None, timeout=90, interval=None, cmdline=None):
        self.name = name
        self.console_path = os.path.join(workdir, "console-%s.log" % name)
        self.qmp_path = os.path.join(workdir, "qmp-%s.sock" % name)
        self._qmp = None
        kernel, initrd = image
        append = cmdline or self.cmdline(n, steps, peermac, mtu, timeout, interval)
        chardev = "socket,id=c0,path=%s" % sock + (",server=on" if server else ",reconnect=1")
        dev = "virtio-net-pci,netdev=n0,mac=%s,romfile=,vectors=0" % guest_mac(n)
        if queues > 1:
            dev += ",mq=on"
        if device:
            dev += "," + device
        argv = ["taskset", "-c", "0", QEMU, "-accel", accel(), "-M", "pc", "-m", MEM,
                "-smp", str(smp), "-display", "none", "-nodefaults", "-no-user-config",
                "-kernel", kernel, "-initrd", initrd, "-append", append,
                "-object", "memory-backend-memfd,id=mem,size=%s,share=on" % MEM,
                "-numa", "node,memdev=mem",
                "-chardev", chardev,
                "-netdev", "vhost-user,id=n0,chardev=c0,queues=%d" % queues,
                "-device", dev,
                "-chardev", "file,id=ser0,path=%s" % self.console_path,
                "-serial", "chardev:ser0",
                "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        if not reboot:
            argv.append("-no-reboot")
        if incoming:
            argv += ["-incoming", incoming]
        self.append = append
        super().__init__(argv, os.path.join(workdir, "qemu-%s.log" % name))

    @staticmethod
    def cmdline(n, steps, peermac, mtu=None, timeout=90, interval=None):
        args = ["console=ttyS0", "quiet", "ipv6.disable=1", "panic=-1",
                "vfwd.ip=10.99.%d.2/24" % n, "vfwd.peer=10.99.%d.1" % n,
                "vfwd.timeout=%d" % timeout, "vfwd.steps=" + ",".join(steps)]
        if peermac:
            args.append("vfwd.peermac=" + peermac)
        if mtu:
            args.append("vfwd.mtu=%d" % mtu)
        if interval:
            args.append("vfwd.interval=%s" % interval)
        return " ".join(args)

    def console(self):
        try:
            with open(self.console_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def markers(self, name=None):
        # Complete lines only: the UART writes a line a byte at a time.
        text = self.console()
        text = text[:text.rfind("\n") + 1]
        return [(m.group(1), parse_fields(m.group(2))) for m in MARKER.finditer(text)
                if name is None or m.group(1) == name]

    def _fail(self, what):
        raise AssertionError("guest %s: %s\n--- console:\n%s\n--- qemu:\n%s"
                             % (self.name, what, self.console()[-4000:], self.log()[-2000:]))

    def wait_marker(self, name, timeout=60, count=1):
        """The count-th VFWD-<name> marker's fields."""
        deadline = time.time() + timeout
        while True:
            got = self.markers(name)
            if len(got) >= count:
                return got[count - 1][1]
            text = self.console()
            if "VFWD-FAIL" in text:
                self._fail("failed")
            if not self.alive():
                self._fail("QEMU exited (%s) before VFWD-%s #%d" % (self.proc.returncode, name, count))
            if time.time() > deadline:
                self._fail("no VFWD-%s #%d within %ss" % (name, count, timeout))
            time.sleep(0.05)

    def wait_text(self, pattern, timeout=60, start=0):
        """The first match of a regex in the console from offset start."""
        deadline = time.time() + timeout
        rx = re.compile(pattern, re.M)
        while True:
            m = rx.search(self.console(), start)
            if m:
                return m
            if not self.alive():
                self._fail("QEMU exited before %r" % pattern)
            if time.time() > deadline:
                self._fail("no %r within %ss" % (pattern, timeout))
            time.sleep(0.05)

    def replies(self):
        """Sequence numbers of the ping replies the guest printed."""
        return [int(s) for s in re.findall(r"seq=(\d+) ttl=", self.console())]

    def wait_exit(self, timeout=60):
        """The guest powered off (QEMU runs with -no-reboot)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._fail("still running after %ss" % timeout)
        if "VFWD-FAIL" in self.console():
            self._fail("failed")
        return rc

    # QMP: live migration and clean quits.
    def qmp(self, cmd, **args):
        if self._qmp is None:
            deadline = time.time() + 10
            while True:
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.qmp_path)
                    break
                except OSError:
                    s.close()
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)
            self._qmp = s.makefile("rw")
            json.loads(self._qmp.readline())          # greeting
            self._send({"execute": "qmp_capabilities"})
        return self._send({"execute": cmd, "arguments": args} if args else {"execute": cmd})

    def _send(self, msg):
        self._qmp.write(json.dumps(msg) + "\n")
        self._qmp.flush()
        while True:
            line = self._qmp.readline()
            if not line:
                raise AssertionError("QMP connection of %s closed" % self.name)
            reply = json.loads(line)
            if "event" in reply:
                continue
            if "error" in reply:
                raise AssertionError("QMP %s: %s" % (msg, reply["error"]))
            return reply.get("return")

    def stop(self, timeout=20):
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        return super().stop(timeout)


def host_ping(ip, count, interval=0.05, size=56, timeout=60, extra=()):
    """The host kernel pings through the tap: (transmitted, received)."""
    out = subprocess.run(["ping", "-n", "-q", "-c", str(count), "-i", str(interval),
                          "-W", "3", "-s", str(size)] + list(extra) + [ip],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=timeout).stdout
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Testpmd(harness.Process):
    """Debian's dpdk-testpmd, interactive on a pipe: the VF-side peer whose
    forwarding the test starts and stops (a stalled or a flooding VF)."""

    def __init__(self, workdir, vdevs, args=()):
        self.prefix = harness.unique("pmd")
        argv = ["dpdk-testpmd", "--lcores=0@0,1@0", "--file-prefix=" + self.prefix,
                "--no-pci", "--single-file-segments", "--huge-dir=" + harness.HUGE_DIR]
        argv += ["--vdev=" + v for v in vdevs] + ["--", "-i"] + list(args)
        self.argv = argv
        self.log_path = os.path.join(workdir, "testpmd-%s.log" % self.prefix)
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.PIPE, start_new_session=True)
        self.wait_for("testpmd> ", 30)

    def wait_for(self, text, timeout=20, start=0):
        deadline = time.time() + timeout
        while True:
            i = self.log().find(text, start)
            if i >= 0:
                return i
            if not self.alive() or time.time() > deadline:
                raise AssertionError("testpmd: no %r; log:\n%s" % (text, self.log()[-3000:]))
            time.sleep(0.05)

    def cmd(self, line, timeout=20):
        """Runs one command; its output (up to the next prompt)."""
        start = len(self.log())
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        end = self.wait_for("testpmd> ", timeout, start)
        return self.log()[start:end]

    def port_stats(self, port=0):
        """(RX, TX) packets of a port, from its telemetry (testpmd's own
        printout is buffered when its output is not a terminal)."""
        if getattr(self, "_tel", None) is None:
            self._tel = harness.Telemetry(self.prefix)
        st = self._tel.query("/ethdev/stats,%d" % port)
        return st["ipackets"], st["opackets"]

    def quit(self, timeout=30):
        if getattr(self, "_tel", None) is not None:
            self._tel.close()
            self._tel = None
        self.proc.stdin.write(b"quit\n")
        self.proc.stdin.flush()
        self.proc.stdin.close()
        return self.wait(timeout)
