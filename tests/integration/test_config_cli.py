"""Configuration end to end: the daemon reads /etc/default/virtioforwarder
style files and options, applies every variable, and refuses bad input
with a message naming what was wrong, before touching anything."""
import os
import re
import socket
import stat
import subprocess

import pytest

from harness import DAEMON, HUGE_DIR, Daemon, Peer, memif_peer, memif_vf, unique


def run_daemon(args, config=None, workdir="/tmp", timeout=30):
    """Runs the daemon to completion (it must refuse to start)."""
    argv = [DAEMON, "-n", "-H", HUGE_DIR, "-p", workdir]
    if config is not None:
        path = os.path.join(workdir, "bad-%s.conf" % unique(""))
        with open(path, "w") as f:
            f.write(config)
        argv.append("--config=" + path)
    argv += args + ["--", "--file-prefix=" + unique("bad")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("config, expect", [
    ("VIRTIOFWD_LOG_LEVEL=9\n", r"VIRTIOFWD_LOG_LEVEL=9.*0-7"),
    ("VIRTIOFWD_CPU_MASK=1,x\n", r"VIRTIOFWD_CPU_MASK=1,x"),
    ("VIRTIOFWD_CPU_MASK=\"\"\nVIRTIOFWD_CPU_PINS=3:5\n", r"relay 3.*CPU 5"),
    ("VIRTIOFWD_STATIC_VFS=(0000:05:08.1=64)\n", r"64.*0-63"),
    ("VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:05:08.2=1)\n", r"relay.* 1"),
    ("VIRTIOFWD_STATIC_VFS=eth0=1\n", r"eth0"),
    ("VIRTIOFWD_VHOST_CLIENT=maybe\n", r"VIRTIOFWD_VHOST_CLIENT=maybe.*true or false"),
    ("VIRTIOFWD_SOCKET_FNAME_PATTERN=vf%s.sock\n", r"VIRTIOFWD_SOCKET_FNAME_PATTERN"),
    ("VIRTIOFWD_VFIO_VF_TOKEN=not-a-uuid\n", r"VIRTIOFWD_VFIO_VF_TOKEN=not-a-uuid"),
    ("VIRTIOFWD_SOCKET_DIR=relative/dir\n", r"VIRTIOFWD_SOCKET_DIR"),
    ("VIRTIOFWD_MASTER_LCORE=1\nVIRTIOFWD_CPU_MASK=1\n", r"VIRTIOFWD_MASTER_LCORE=1"),
    ("this is not an assignment\n", r":1:"),
])
def test_bad_config_value_refused_with_a_message(config, expect):
    r = run_daemon(["-C", "1"] if "CPU_MASK" not in config else [], config=config)
    assert r.returncode != 0
    assert re.search(expect, r.stderr), r.stderr


@pytest.mark.parametrize("args, expect", [
    (["-C", "1", "-P", "net_memif0,socket=/tmp/x.sock=64"], r"64.*0-63"),
    (["-C", "1", "-c", "64:1"], r"64"),
    (["-C", "1", "--no-such-option"], r"no-such-option"),
    (["-C", "7", "-M", "0"], r"CPU 7 is not online"),
    (["-C", "0,1", "-M", "0"], r"MASTER_LCORE=0"),
])
def test_bad_option_refused_with_a_message(args, expect):
    r = run_daemon(args)
    assert r.returncode != 0
    assert re.search(expect, r.stderr + r.stdout), r.stderr + r.stdout


def test_missing_hugepage_mount_explains_the_fix(tmp_path):
    r = run_daemon(["-C", "1", "-H", "/nonexistent/huge"])
    assert r.returncode != 0
    assert "mount -t hugetlbfs" in r.stderr and "/nonexistent/huge" in r.stderr, r.stderr
    r = run_daemon(["-C", "1", "-H", str(tmp_path)])
    assert r.returncode != 0
    assert "is not a hugetlbfs mount" in r.stderr, r.stderr


def test_a_socket_directory_anyone_may_write_to_is_refused(tmp_path):
    """Every user could replace the vhost-user sockets there and take a
    VM's traffic: the daemon does not start, and says how to fix it."""
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    r = run_daemon(["-C", "1", "-V", str(open_dir)])
    assert r.returncode != 0
    assert "is writable by every user (mode 0777)" in r.stderr, r.stderr
    assert "chmod o-w %s" % open_dir in r.stderr, r.stderr
    r = run_daemon(["-C", "1", "-V", str(tmp_path / "missing")])
    assert r.returncode != 0
    assert "No such file or directory: create it (mkdir -m 0750 %s" % (tmp_path / "missing") \
        in r.stderr, r.stderr


def test_a_shared_socket_directory_and_a_tcp_endpoint_are_warned_about(workdir, procs):
    """/tmp (sticky, shared: the guide's default) keeps working, with a
    warning that says what a client-mode relay risks there; so does a
    control service on tcp://, which has no authentication."""
    shared = os.path.join(workdir, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ep = "tcp://127.0.0.1:%d" % port
    d = Daemon(workdir, ["-C", "1", "-M", "0", "-i", "-V", shared, "--zmq-stats-ep=" + ep])
    procs.append(d)
    log = d.log()
    assert re.search(r"WARN.*socket directory %s is shared by every user \(sticky, mode 1777\): "
                     r"in client mode the daemon connects to whatever socket appears" % shared,
                     log), log
    assert ("stats service on %s: the control protocol has no authentication, so anyone "
            "who can reach that address can use it" % ep) in log, log
    assert d.stop() == 0


def test_version():
    r = subprocess.run([DAEMON, "--version"], capture_output=True, text=True)
    assert r.returncode == 0
    assert re.match(r"virtio-forwarder \S+ \(built with DPDK 22\.11\.\d+, up to 64 relays, "
                    r"128 ethdev ports\)", r.stdout), r.stdout


def test_every_variable_applied(workdir, procs):
    """A config file setting the guide's variables: the daemon runs with
    them (sockets, owner, mode, pins, static VFs in array form, token)."""
    sockdir = os.path.join(workdir, "sockets")
    os.makedirs(sockdir)
    vf_peers = [Peer(workdir, [memif_peer(workdir, i)], ["--expect", 1, "--idle-timeout", 30000])
                for i in (0, 1)]
    procs.extend(vf_peers)
    config = """# the guide's variables, in the file format the guide shows
VIRTIOFWD_CPU_MASK=0x2
VIRTIOFWD_MASTER_LCORE=0
VIRTIOFWD_LOG_LEVEL=7
VIRTIOFWD_HUGETLBFS_MOUNT_POINT=%(huge)s
VIRTIOFWD_SOCKET_OWNER=nobody
VIRTIOFWD_SOCKET_GROUP=nogroup
VIRTIOFWD_SOCKET_DIR=%(sockdir)s
VIRTIOFWD_SOCKET_FNAME_PATTERN=relay-%%u.vhost
VIRTIOFWD_VHOST_CLIENT=false
VIRTIOFWD_DYNAMIC_SOCKETS=false
VIO4WD_CORE_SCHED_ENABLE=false
VIRTIOFWD_CPU_PINS=(0:1,1 1:1)
VIRTIOFWD_VFIO_VF_TOKEN=0
VIRTIOFWD_STATIC_VFS=(%(vf0)s=0 %(vf1)s=1)
VIRTIOFWD_ZMQ_PORT_CONTROL_EP=
VIRTIOFWD_ZMQ_STATS_EP=
VIRTIOFWD_SOME_FUTURE_KNOB=1
""" % {"huge": HUGE_DIR, "sockdir": sockdir, "vf0": memif_vf(workdir, 0),
       "vf1": memif_vf(workdir, 1)}
    d = Daemon(workdir, [], config=config)
    procs.append(d)
    log = d.log()
    path = os.path.join(sockdir, "relay-5.vhost")
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_uid == 65534, "owner nobody"
    assert os.path.exists(os.path.join(workdir, "virtio-forwarder.pid"))
    assert int(open(os.path.join(workdir, "virtio-forwarder.pid")).read()) == d.proc.pid
    assert "unknown variable VIRTIOFWD_SOME_FUTURE_KNOB" in log
    assert "--vfio-vf-token=00000000-0000-0000-0000-000000000000" in log
    assert "DEBUG" in log                      # level 7
    assert "vhost-user server mode" in log
    for rid in (0, 1):
        r = d.relay(rid)
        assert r["vf_attached"] and r["socket"] == os.path.join(sockdir, "relay-%d.vhost" % rid)
        assert r["vf_to_vm"]["cpu"] == 1 and r["vm_to_vf"]["cpu"] == 1
    assert d.tel.query("/virtio_forwarder/relays") == list(range(64))
    # DPDK 22.11's memif races a stop against its own connection handshake
    # (interrupt thread): let both links come up before stopping.
    for rid in (0, 1):
        d.wait_relay(rid, lambda r: r["vf_link_up"], what="VF link up")
    assert d.stop() == 0
    assert not os.path.exists(os.path.join(workdir, "virtio-forwarder.pid"))
    assert not os.path.exists(path), "server sockets are removed at shutdown"


def test_dynamic_sockets_create_none_at_start(workdir, procs):
    d = Daemon(workdir, ["-C", "1", "-M", "0", "--server", "-d", "-V", workdir])
    procs.append(d)
    assert not [f for f in os.listdir(workdir) if f.endswith(".sock") and f.startswith("virtio")]
    assert d.tel.query("/virtio_forwarder/relays") == []
    assert d.stop() == 0


def test_log_level_5_is_quiet(workdir, procs):
    d = Daemon(workdir, ["-C", "1", "-M", "0", "-l", "5", "--server", "-V", workdir])
    procs.append(d)
    assert d.stop() == 0
    assert "INFO" not in d.log() and "NOTICE" in d.log()
