"""Packaging and operations: `meson install` with DESTDIR, the systemd units
(systemd-analyze verify), the man pages against each program's --help, the
shipped config file, and the Debian package built from a copy of the tree,
installed with dpkg, run on the demo topology, removed and checked by lintian.

Nothing here installs into the machine except the Debian package test, which
removes what it installed and refuses to touch a machine that already has a
/etc/default/virtioforwarder or the package."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import harness
from harness import BUILD, REPO, Daemon, Peer, memif_peer, memif_vf

TOOLS = ["virtioforwarder_port_control", "virtioforwarder_stats",
         "virtioforwarder_core_pinner", "virtioforwarder_monitor_load"]
EXPORTER = "virtioforwarder_exporter"   # a tool too, but new: no .py name
SCHEDULER = "vio4wd_core_scheduler"
MAN_PAGES = {  # program -> page in docs/man
    "virtio-forwarder": "virtio-forwarder.8",
    SCHEDULER: "vio4wd_core_scheduler.8",
    "virtioforwarder_port_control": "virtioforwarder_port_control.1",
    "virtioforwarder_stats": "virtioforwarder_stats.1",
    "virtioforwarder_core_pinner": "virtioforwarder_core_pinner.1",
    "virtioforwarder_monitor_load": "virtioforwarder_monitor_load.1",
    EXPORTER: "virtioforwarder_exporter.1",
}
UNITS = ["virtio-forwarder.service", "vio4wd_core_scheduler.service"]
SHIPPED_CONFIG = os.path.join(REPO, "etc", "virtioforwarder")
MAN_DIR = os.path.join(REPO, "docs", "man")


def build_options():
    with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
        return {o["name"]: o["value"] for o in json.load(f)}


def under(prefix, d):
    """An install directory option: absolute, or relative to the prefix."""
    return d if os.path.isabs(d) else os.path.join(prefix, d)


def unit_dir():
    r = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "/lib/systemd/system"


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    """`meson install --destdir` of the build tree, and the paths it used."""
    d = str(tmp_path_factory.mktemp("destdir"))
    r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", d],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    o = build_options()
    prefix = o["prefix"]
    paths = {
        "prefix": prefix,
        "bindir": under(prefix, o["bindir"]),
        "sbindir": under(prefix, o["sbindir"]),
        "datadir": under(prefix, o["datadir"]),
        "mandir": under(prefix, o["mandir"]),
        "tooldir": os.path.join(prefix, "lib", "virtio-forwarder"),
        "unitdir": unit_dir(),
    }
    return d, paths


def rooted(destdir, path):
    return destdir + path


# ---------------------------------------------------------------- meson install

def test_meson_install_destdir_installs_the_expected_files(destdir):
    d, p = destdir
    expect = {
        os.path.join(p["sbindir"], "virtio-forwarder"),
        "/etc/default/virtioforwarder",
        os.path.join(p["datadir"], "virtio-forwarder", "virtioforwarder.proto"),
        os.path.join(p["datadir"], "doc", "virtio-forwarder", "operators-guide.md"),
    }
    for t in TOOLS:
        expect |= {os.path.join(p["tooldir"], t), os.path.join(p["tooldir"], t + ".py"),
                   os.path.join(p["bindir"], t)}
    expect |= {os.path.join(p["tooldir"], EXPORTER), os.path.join(p["bindir"], EXPORTER)}
    for u in UNITS:
        expect.add(os.path.join(p["unitdir"], u))
    for page in MAN_PAGES.values():
        expect.add(os.path.join(p["mandir"], "man" + page[-1], page))
    # The scheduler is built by its own target; accepted where it installs.
    optional = {os.path.join(p["bindir"], SCHEDULER), os.path.join(p["sbindir"], SCHEDULER)}

    installed = set()
    for root, _dirs, files in os.walk(d):
        for f in files:
            installed.add(os.path.join(root, f)[len(d):])
    assert expect - installed == set(), "missing"
    assert installed - expect - optional == set(), "installed but not expected"

    # programs are executable; the tool names on PATH and the guide's .py
    # names lead to the tools
    assert os.access(rooted(d, os.path.join(p["sbindir"], "virtio-forwarder")), os.X_OK)
    for t in TOOLS + [EXPORTER]:
        real = os.path.join(p["tooldir"], t)
        assert os.access(rooted(d, real), os.X_OK)
        if t != EXPORTER:
            assert os.readlink(rooted(d, os.path.join(p["tooldir"], t + ".py"))) == t
        link = os.readlink(rooted(d, os.path.join(p["bindir"], t)))
        assert os.path.normpath(os.path.join(p["bindir"], link)) == real
    # data files are the repository's
    for src, dst in ((SHIPPED_CONFIG, "/etc/default/virtioforwarder"),
                     (os.path.join(REPO, "proto", "virtioforwarder.proto"),
                      os.path.join(p["datadir"], "virtio-forwarder", "virtioforwarder.proto"))):
        with open(src, "rb") as a, open(rooted(d, dst), "rb") as b:
            assert a.read() == b.read(), dst
    # units name the installed daemon
    with open(rooted(d, os.path.join(p["unitdir"], "virtio-forwarder.service"))) as f:
        assert "ExecStart=%s -n\n" % os.path.join(p["sbindir"], "virtio-forwarder") in f.read()
    with open(rooted(d, os.path.join(p["unitdir"], "vio4wd_core_scheduler.service"))) as f:
        assert "ExecStart=%s\n" % os.path.join(p["bindir"], SCHEDULER) in f.read()


def test_installed_programs_run(destdir):
    d, p = destdir
    daemon = rooted(d, os.path.join(p["sbindir"], "virtio-forwarder"))
    r = subprocess.run([daemon, "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert re.match(r"virtio-forwarder \d+\.\d+\.\d+ \(built with DPDK 22\.11", r.stdout), r.stdout
    for t in TOOLS:
        r = subprocess.run([rooted(d, os.path.join(p["tooldir"], t + ".py")), "--help"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith("usage: " + t), (t, r.stdout, r.stderr)


# ---------------------------------------------------------------- systemd

def unit_text(destdir, unit):
    d, p = destdir
    with open(rooted(d, os.path.join(p["unitdir"], unit))) as f:
        return f.read()


def unit_keys(text):
    keys = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def test_units_say_what_the_daemon_needs(destdir):
    k = unit_keys(unit_text(destdir, "virtio-forwarder.service"))
    assert k["Type"] == ["notify"]
    assert k["ExecStart"][0].endswith("/virtio-forwarder -n")  # foreground: logs to the journal
    assert k["Restart"] == ["on-failure"]
    assert k["RuntimeDirectory"] == ["virtio-forwarder"]
    assert k["RuntimeDirectoryMode"] == ["0750"]
    assert "EnvironmentFile" not in k  # the daemon reads the file itself
    assert k["WantedBy"] == ["multi-user.target"]
    s = unit_keys(unit_text(destdir, "vio4wd_core_scheduler.service"))
    for dep in ("After", "BindsTo", "PartOf"):
        assert s[dep] == ["virtio-forwarder.service"], dep


def verify(units, manpath):
    env = dict(os.environ, MANPATH=manpath, SYSTEMD_LOG_COLOR="0", LC_ALL="C.UTF-8")
    return subprocess.run(["systemd-analyze", "verify"] + units, capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(destdir, tmp_path):
    """The installed units, with ExecStart pointing into DESTDIR (and at
    /bin/true for a scheduler not built yet), and MANPATH at the installed
    man pages so that Documentation=man: is checked too. Warnings fail."""
    d, p = destdir
    units = []
    for u in UNITS:
        lines = []
        for line in unit_text(destdir, u).splitlines(True):
            if line.startswith("ExecStart="):
                exe, _, rest = line[len("ExecStart="):].partition(" ")
                exe = exe.strip()
                exe = rooted(d, exe) if os.path.exists(rooted(d, exe)) else shutil.which("true")
                line = "ExecStart=%s%s%s" % (exe, " " if rest else "\n", rest)
            lines.append(line)
        path = os.path.join(str(tmp_path), u)
        with open(path, "w") as f:
            f.write("".join(lines))
        units.append(path)
    manpath = rooted(d, p["mandir"])
    r = verify(units, manpath)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr

    # The check has teeth: a unit whose program is missing, a misspelt key
    # and a missing man page are all reported.
    bad = os.path.join(str(tmp_path), "bad.service")
    with open(bad, "w") as f:
        f.write("[Unit]\nDocumentation=man:no-such-page(8)\n[Service]\n"
                "Type=notify\nExecStart=/nonexistent/virtio-forwarder -n\nRestart=onfailure\n")
    r = verify([bad], manpath)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "/nonexistent/virtio-forwarder" in out and "no-such-page" in out, out
    assert "restart specifier" in out, out


# ---------------------------------------------------------------- man pages

def render(page):
    env = dict(os.environ, LC_ALL="C", MANWIDTH="1000")
    return subprocess.run(["man", "--warnings", "-l", os.path.join(MAN_DIR, page)],
                          capture_output=True, text=True, env=env, timeout=60)


def program(name):
    for path in (os.path.join(BUILD, name), os.path.join(BUILD, "scheduler", name)):
        if os.path.exists(path):
            return path
    return None


@pytest.mark.skipif(not shutil.which("man"), reason="man-db not installed")
@pytest.mark.parametrize("prog", sorted(MAN_PAGES))
def test_man_page_renders_cleanly_and_covers_every_option(prog):
    r = render(MAN_PAGES[prog])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = r.stdout
    assert "NAME\n       %s - " % prog in text
    exe = program(prog)
    if exe is None:
        pytest.skip("%s is not built yet: page rendered, options not compared" % prog)
    h = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
    assert h.returncode == 0, h.stderr
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9_-]*)", h.stdout))
    assert options, h.stdout
    missing = sorted(o for o in options if o not in text)
    assert not missing, "options in --help but not in %s: %s" % (MAN_PAGES[prog], missing)


# ---------------------------------------------------------------- config file

def config_variables():
    """The variables the daemon's parser knows (src/config.c's table),
    without the obsolete ones it only accepts."""
    with open(os.path.join(REPO, "src", "config.c")) as f:
        src = f.read()
    table = re.findall(r'\{ "((?:VIRTIOFWD|VIO4WD)_[A-Z0-9_]+)", (\w+), ([\w |]+) \}', src)
    assert len(table) > 20, "config.c's variable table not found"
    return [name for name, _setter, flags in table if "F_OBSOLETE" not in flags]


def test_shipped_config_documents_every_variable():
    """Each variable the parser knows is set in etc/virtioforwarder, under a
    comment that gives its default; values equal to the built-in defaults
    are checked by the unit test test_shipped_file (tests/unit)."""
    with open(SHIPPED_CONFIG) as f:
        lines = f.read().splitlines()
    for var in config_variables():
        at = [i for i, line in enumerate(lines) if line.startswith(var + "=")]
        assert len(at) == 1, "%s set %d times in etc/virtioforwarder" % (var, len(at))
        i = at[0] - 1
        while i >= 0 and re.match(r"[A-Z0-9_]+=", lines[i]):
            i -= 1  # variables sharing one comment
        comment = []
        while i >= 0 and lines[i].startswith("#"):
            comment.insert(0, lines[i])
            i -= 1
        assert comment and "Default" in "\n".join(comment), \
            "%s: no comment with its default above it" % var


def test_every_variable_is_in_a_man_page():
    text = ""
    for page in ("virtio-forwarder.8", "vio4wd_core_scheduler.8"):
        with open(os.path.join(MAN_DIR, page)) as f:
            text += f.read().replace("\\-", "-")
    missing = [v for v in config_variables() if v not in text]
    assert not missing, missing


def test_daemon_accepts_the_shipped_config():
    """The daemon itself (not only the parser's unit test) reads the file:
    --version comes after the configuration is loaded."""
    r = subprocess.run([harness.DAEMON, "--config=" + SHIPPED_CONFIG, "--version"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr


# ---------------------------------------------------------------- Debian package

def copy_tree(dst):
    """The work tree as git sees it (tracked and new files, not build/)."""
    r = subprocess.run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard", "-z"],
                       capture_output=True)
    if r.returncode == 0:
        for rel in r.stdout.decode().split("\0"):
            src = os.path.join(REPO, rel)
            if rel and os.path.lexists(src):
                os.makedirs(os.path.join(dst, os.path.dirname(rel)), exist_ok=True)
                shutil.copy2(src, os.path.join(dst, rel), follow_symlinks=False)
    else:
        shutil.copytree(REPO, dst, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".git", "build", "obj-*", "__pycache__"))


def dpkg_installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def run(argv, timeout=120, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, "%s: exit %d\n%s%s" % (" ".join(argv), r.returncode,
                                                       r.stdout[-4000:], r.stderr[-4000:])
    return r


@pytest.mark.skipif(os.geteuid() != 0, reason="dpkg -i needs root")
@pytest.mark.skipif(not (shutil.which("dpkg-buildpackage") and shutil.which("lintian")
                         and shutil.which("dh")),
                    reason="dpkg-dev, debhelper and lintian are needed (scripts/install-deps.sh)")
def test_debian_package_builds_installs_runs_and_removes(tmp_path, workdir, procs, monkeypatch):
    if dpkg_installed("virtio-forwarder") or os.path.exists("/etc/default/virtioforwarder"):
        pytest.skip("this machine has virtio-forwarder installed or configured: left alone")
    src = os.path.join(str(tmp_path), "virtio-forwarder")
    copy_tree(src)
    t0 = time.time()
    build = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src,
                           capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-6000:] + build.stderr[-3000:]
    print("\ndpkg-buildpackage: %.0f s" % (time.time() - t0))
    debs = [f for f in os.listdir(str(tmp_path))
            if re.match(r"virtio-forwarder_.*_amd64\.deb$", f)]
    assert len(debs) == 1, os.listdir(str(tmp_path))
    deb = os.path.join(str(tmp_path), debs[0])
    changes = [f for f in os.listdir(str(tmp_path)) if f.endswith(".changes")]

    # lintian: no error (warnings and notes are allowed and printed)
    lint = subprocess.run(["lintian", "--info", os.path.join(str(tmp_path), changes[0])],
                          capture_output=True, text=True, timeout=600)
    print(lint.stdout)
    errors = [line for line in lint.stdout.splitlines() if line.startswith("E:")]
    assert not errors and lint.returncode == 0, lint.stdout + lint.stderr

    # the package's metadata
    fields = run(["dpkg-deb", "-f", deb, "Depends", "Recommends"]).stdout
    assert "libzmq5" in fields and "libprotobuf-c1" in fields and "libsystemd0" in fields
    assert "libmicrohttpd12" in fields  # the exporter
    assert "librte" not in fields.split("Recommends")[0]  # DPDK is linked in
    assert re.search(r"Recommends:.*\bdpdk\b", fields), fields

    created_run_dir = not os.path.exists("/var/run/virtio-forwarder")
    try:
        run(["dpkg", "-i", deb])
        assert dpkg_installed("virtio-forwarder")
        r = run(["/usr/sbin/virtio-forwarder", "--version"])
        assert r.stdout.startswith("virtio-forwarder "), r.stdout
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "virtio-forwarder"]).stdout
        assert "/etc/default/virtioforwarder" in conffiles
        for u in UNITS:
            assert os.path.exists("/lib/systemd/system/" + u)
        for t in TOOLS:  # on PATH and under the guide's names
            run([shutil.which(t) or "/usr/bin/" + t, "--help"])
            run(["/usr/lib/virtio-forwarder/%s.py" % t, "--help"])
        run([shutil.which(EXPORTER) or "/usr/bin/" + EXPORTER, "--help"])
        assert run(["man", "-w", "virtio-forwarder"]).stdout.strip().startswith(
            "/usr/share/man/man8/virtio-forwarder.8")
        assert os.path.exists("/usr/share/virtio-forwarder/virtioforwarder.proto")

        # the installed daemon on the demo topology, reading the installed
        # /etc/default/virtioforwarder (worker CPU and sockets overridden
        # for this machine and this test); the installed stats tool talks to
        # it at the default endpoint the shipped file turns on
        monkeypatch.setattr(harness, "DAEMON", "/usr/sbin/virtio-forwarder")
        d = Daemon(workdir, ["-C", "1", "-M", "0", "--server", "-V", workdir,
                             "-P", memif_vf(workdir) + "=0"])
        procs.append(d)
        from test_relay import run_round
        r = run_round(workdir, procs, d)
        assert r["vf_to_vm"]["tx_pkts"] > 0 and r["vm_to_vf"]["tx_pkts"] > 0
        stats = json.loads(run(["virtioforwarder_stats", "--include-inactive",
                                "--relay=0", "--json"]).stdout)
        relay = stats["relay"][0]
        assert relay["id"] == 0
        assert relay["vf_to_vm"]["pkts_tx_to_vm"] == r["vf_to_vm"]["tx_pkts"], relay
        assert relay["vm_to_vf"]["pkts_tx_to_vf"] == r["vm_to_vf"]["tx_pkts"], relay
        assert d.stop() == 0

        # dpkg -r: the programs go, the conffile stays; dpkg -P: it goes too
        run(["dpkg", "-r", "virtio-forwarder"])
        assert not dpkg_installed("virtio-forwarder")
        for path in ["/usr/sbin/virtio-forwarder", "/usr/lib/virtio-forwarder",
                     "/usr/share/virtio-forwarder", "/usr/share/man/man8/virtio-forwarder.8.gz"] + \
                ["/lib/systemd/system/" + u for u in UNITS] + \
                ["/usr/bin/" + t for t in TOOLS + [EXPORTER]]:
            assert not os.path.lexists(path), path
        assert os.path.exists("/etc/default/virtioforwarder")
        run(["dpkg", "-P", "virtio-forwarder"])
        assert not os.path.lexists("/etc/default/virtioforwarder")
        assert not os.path.lexists("/usr/share/doc/virtio-forwarder")
        status = subprocess.run(["dpkg-query", "-W", "virtio-forwarder"], capture_output=True)
        assert status.returncode != 0  # no trace left in dpkg's database
    finally:
        for p in procs:
            if p.alive():
                p.kill()
        subprocess.run(["dpkg", "-P", "virtio-forwarder"], capture_output=True)
        if created_run_dir:
            shutil.rmtree("/var/run/virtio-forwarder", ignore_errors=True)
