"""The guide's libvirt domain snippets, as complete example domains in
docs/libvirt/, are valid for Debian's libvirt schema and say what the guide
says (socket mode per daemon mode, shared hugepage memory, queues, the
VirtIO 1.0 switch)."""
import glob
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "docs", "libvirt")
QEMU_NS = "{http://libvirt.org/schemas/domain/qemu/1.0}"
EXAMPLES = sorted(glob.glob(os.path.join(DOCS, "*.xml")))


def test_examples_exist():
    names = {os.path.basename(f) for f in EXAMPLES}
    assert names >= {"vm-server-mode.xml", "vm-client-mode.xml", "vm-multiqueue.xml",
                     "vm-virtio-1.0.xml"}, names


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_validates(path):
    out = subprocess.run(["virt-xml-validate", path, "domain"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    assert out.returncode == 0, out.stdout


def vhostuser(dom):
    ifs = [i for i in dom.iter("interface") if i.get("type") == "vhostuser"]
    assert len(ifs) == 1
    return ifs[0]


def shared_memory(dom):
    return (dom.find("memoryBacking/access[@mode='shared']") is not None or
            dom.find("cpu/numa/cell[@memAccess='shared']") is not None)


def load(name):
    return ET.parse(os.path.join(DOCS, name)).getroot()


def test_examples_say_what_the_guide_says():
    for name in ("vm-server-mode.xml", "vm-client-mode.xml", "vm-multiqueue.xml",
                 "vm-virtio-1.0.xml"):
        dom = load(name)
        assert shared_memory(dom), name
        assert dom.find("memoryBacking/hugepages/page") is not None, name
        src = vhostuser(dom).find("source")
        assert src.get("type") == "unix" and \
            src.get("path").startswith("/tmp/virtio-forwarder"), name
        assert vhostuser(dom).find("model").get("type") == "virtio", name
    # Daemon in server mode: QEMU is the client, and the other way round.
    assert vhostuser(load("vm-server-mode.xml")).find("source").get("mode") == "client"
    assert vhostuser(load("vm-client-mode.xml")).find("source").get("mode") == "server"
    page = load("vm-server-mode.xml").find("memoryBacking/hugepages/page")
    assert (page.get("size"), page.get("unit")) == ("2", "MiB")
    assert vhostuser(load("vm-multiqueue.xml")).find("driver").get("queues") == "4"
    dom = load("vm-virtio-1.0.xml")
    args = [a.get("value") for a in dom.iter(QEMU_NS + "arg")]
    assert args == ["-global", "virtio-pci.disable-modern=off"], args
    bridged = [i for i in dom.iter("interface") if i.get("type") == "bridge"]
    assert bridged and bridged[0].find("driver").get("name") == "qemu"
