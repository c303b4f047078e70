#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/).
Run once from anywhere; the outputs are committed. The control requests are
encoded by hand (protobuf wire format) so that no protobuf module is needed.
"""
import os
import shutil

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- config_file: the shipped file and a few small ones
os.makedirs(os.path.join(here, "corpus", "config_file"), exist_ok=True)
shutil.copy(os.path.join(root, "etc", "virtioforwarder"),
            os.path.join(here, "corpus", "config_file", "shipped"))
write("config_file", "pins_array",
      "VIRTIOFWD_CPU_MASK=1-3\nVIRTIOFWD_CPU_PINS=(0:1,2 '1:3' \"2:2\")\n")
write("config_file", "static_vfs",
      "export VIRTIOFWD_STATIC_VFS=(05:08.1=0 'net_memif0,role=client,id=0=3')\n"
      "VIRTIOFWD_VHOST_CLIENT=true # comment\r\n")
write("config_file", "quoting",
      "VIRTIOFWD_SOCKET_DIR='/var/run/vfwd'\nVIRTIOFWD_SOCKET_FNAME_PATTERN=\"vm%u.sock\"\n"
      "VIRTIOFWD_ZMQ_STATS_EP=ipc:///tmp/s\nVIRTIOFWD_VFIO_VF_TOKEN=2ab74924-c335-45f4-9b16-8569e5b08258\n"
      "VIO4WD_CORE_SCHED_SENSITIVITY=0.5\nVIO4WD_CORE_SCHED_POLL_INTERVAL=2\nFOO=bar\n")

# ---- config_args: words separated by newlines
args = {
    "basic": ["-C1,2", "-M", "0", "-n", "-l7"],
    "long": ["--cpus=0x6", "--vhostuser-client", "--dynamic-sockets", "--zmq-stats-ep",
             "--zmq-port-control-ep=ipc:///tmp/p", "--config=/etc/default/virtioforwarder"],
    "pins_vfs": ["-c", "0:1,2;1:2", "--virtio-cpu=2:1", "-P", "0000:05:08.1=0",
                 "--add-pci-vf=net_memif0,role=client=1"],
    "eal": ["-J", "-R", "-T", "-a", "-nlog_syslog", "--", "--log-level=8", "-m", "512"],
    "paths": ["-p", "/run", "-H/dev/hugepages", "-V", "/tmp/vfwd", "-Svm%u.sock", "-u",
              "-groot", "-t", "0"],
}
for name, words in args.items():
    write("config_args", name, "\n".join(words))

# ---- config_values: a selector byte (see fuzz_config_values.c), the string
values = [
    (0, "cpus_list", "1,2,4-7"), (0, "cpus_hex", "0x6"), (0, "cpus_blank", " 3 , 9-10"),
    (1, "pin_one", "0:1"), (1, "pin_two", "63:1,2"),
    (2, "vf_pci", "0000:05:08.1=0"), (2, "vf_vdev", "net_memif0,role=client,id=0=3"),
    (3, "pci_long", "0000:05:1f.7"), (3, "pci_short", "AB:00.0"),
    (4, "bool", "yes"),
    (5, "var_pins", "VIRTIOFWD_CPU_PINS=0:1;1:2"), (5, "var_token", "VIRTIOFWD_VFIO_VF_TOKEN=0"),
    (5, "var_pattern", "VIRTIOFWD_SOCKET_FNAME_PATTERN=x%u"),
]
for sel, name, s in values:
    write("config_values", name, bytes([sel]) + s.encode())


# ---- ctl_req: a selector byte (see fuzz_ctl_req.c), the wire message
def varint(v):
    v &= (1 << 64) - 1  # negative int32: 10 bytes, as protobuf sign-extends
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wt):
    return varint(field << 3 | wt)


def f_varint(field, v):
    return key(field, 0) + varint(v)


def f_bytes(field, b):
    b = b.encode() if isinstance(b, str) else b
    return key(field, 2) + varint(len(b)) + b


def pci(d, b, s, f):
    return f_varint(1, d) + f_varint(2, b) + f_varint(3, s) + f_varint(4, f)


PORT, STATS, SCHED, CONFIG = 0, 1, 2, 3
DYN = 4
SCHED_WORKERS_1_2 = (0b110 << 2) | SCHED
reqs = {
    "port_add_pci": (PORT, f_varint(1, 0) + f_bytes(2, pci(0, 5, 8, 1)) + f_varint(3, 3)),
    "port_add_vdev": (PORT, f_varint(1, 0) + f_varint(3, 1) +
                      f_bytes(100, "net_memif0,role=client,id=0")),
    "port_add_bond": (PORT, f_varint(1, 0) + f_bytes(2, pci(0, 5, 8, 1)) +
                      f_bytes(2, pci(0, 5, 8, 2)) + f_bytes(100, "net_tap0,iface=t0") +
                      f_bytes(5, "b0") + f_varint(6, 2) + f_varint(3, 7) + f_varint(4, 0)),
    "port_remove": (PORT, f_varint(1, 1) + f_varint(3, 63)),
    "port_add_sock": (PORT | DYN, f_varint(1, 2) + f_bytes(7, "/tmp/vm0.sock") +
                      f_bytes(2, pci(0, 5, 8, 1))),
    "port_remove_sock": (PORT | DYN, f_varint(1, 3) + f_bytes(7, "/tmp/vm0.sock")),
    "port_query": (PORT, f_varint(1, 4) + f_bytes(7, "/tmp/vm0.sock")),
    "stats_all": (STATS, b""),
    "stats_some": (STATS, f_bytes(1, varint(0) + varint(5) + varint(63)) +
                   f_varint(2, 0) + f_varint(3, 500)),
    "sched_update": (SCHED_WORKERS_1_2, f_varint(1, 0) +
                     f_bytes(2, f_varint(1, 0) + f_varint(2, 1) + f_varint(3, 2)) +
                     f_bytes(2, f_varint(1, 1) + f_varint(2, -1) + f_varint(3, 2))),
    "sched_eal": (SCHED_WORKERS_1_2, f_varint(1, 1)),
    "config": (CONFIG, b""),
}
for name, (sel, msg) in reqs.items():
    write("ctl_req", name, bytes([sel]) + msg)
