#!/bin/busybox sh
# /init of the two-NUMA-node guest of tests/vm/test_numa.py
# (tests/vm/build-numa-guest.sh packs it with busybox, virtio-forwarder,
# vfwd-peer and their libraries). The guest has two NUMA nodes, CPU 0 on
# node 0 and CPU 1 on node 1, and no NIC: the daemon and every peer run in
# here, a memif peer as the VF's far side and virtio_user peers as VMs.
#
# Scenario:
#   1. VF peer vf1 (memif server, lcore 0), once it listens the daemon: main lcore 0,
#      worker CPU 1 (node 1), relay 0's VF the memif client. The relay's
#      pool goes on its worker's node, 1.
#   2. VM peer vm1 (virtio_user, lcore 0 on node 0, --socket-mem=S,0: its
#      memory, vrings included, on node 0). Once the daemon says both
#      directions of relay 0 are active after the VM connected, both peers
#      send N numbered frames and check every one they get.
#   3. VF peer vf2, once it listens VM peer vm2 (lcore 1 on node 1,
#      --socket-mem=0,S), the same.
#   4. SIGTERM to the daemon; its log, the peers' logs and reports are
#      printed on the console; power off.
#
# Console markers (the host parses them; lines end in \r on the serial
# console):
#   VFWD-NUMA online= cpus0= cpus1=      the guest's topology
#   VFWD-HUGEPAGES node0= node1=         2M pages reserved per node
#   VFWD-STEP name [k=v ...]             progress
#   VFWD-MEM when=W daemon_n0= daemon_n1= [vm_n0= vm_n1=]
#                                        hugepages per node (numa_maps): at
#                                        start (W=up), and once VM W's relay
#                                        is active (before its traffic)
#   VFWD-EXIT name=P rc=N                a process's exit status
#   VFWD-REPORT P {json}                 peer P's report, one line
#   VFWD-BEGIN P / VFWD-END P            around the log of process P
#   VFWD-FAIL why                        the scenario could not go on
#   VFWD-DONE                            the end (after the logs)
#
# Kernel command line (vfwd.*):
#   vfwd.n=2000          frames each peer sends per round
#   vfwd.pps=500         their rate, per peer
#   vfwd.sizes=64,...    frame lengths cycled through
#   vfwd.hugepages=160   2M pages to reserve on EACH node
#   vfwd.socketmem=64    MB each VM peer preallocates on its node
#   vfwd.gate=90         seconds to wait for a relay to become active
#   vfwd.timeout=300     watchdog: dump what there is and power off

/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
# No ld.so.cache in here: the loader searches these.
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
# Not world-writable: the daemon's vhost-user sockets go in /tmp.
mount -t tmpfs -o mode=0755 tmp /tmp
mount -t tmpfs -o mode=0755 run /run

n=2000 pps=500 sizes=64,512,1518,60,1000 hugepages=160 socketmem=64 gate=90 timeout=300
for w in $(cat /proc/cmdline); do
	case "$w" in
	vfwd.*=*)
		k=${w%%=*}; k=${k#vfwd.}; v=${w#*=}
		case "$k" in
		n|pps|sizes|hugepages|socketmem|gate|timeout) eval "$k=\$v" ;;
		esac ;;
	esac
done

LOG=/tmp/daemon.log
SOCK=/tmp/virtio-forwarder0.sock
MEMIF=/tmp/memif0.sock
EAL="--no-pci --single-file-segments --huge-dir=/dev/hugepages"
# As tests/integration/test_control.py's traffic(); the peers' own limit
# stays inside the watchdog's.
POPTS="--tx $n --expect $n --flows 4 --pps $pps --wait-link --sizes $sizes
       --idle-timeout 10000 --timeout $((timeout / 3))"
PEERS="vf1 vm1 vf2 vm2"

# step NAME [k=v ...]: progress, with the guest's uptime.
step() { echo "VFWD-STEP $* t=$(cut -d' ' -f1 /proc/uptime)"; }

dump() {
	step dump
	for node in 0 1; do
		d=/sys/devices/system/node/node$node/hugepages/hugepages-2048kB
		echo "VFWD-HUGEFREE node$node=$(cat $d/free_hugepages 2>/dev/null)"
	done
	for p in $PEERS; do
		[ -s /tmp/$p.json ] && echo "VFWD-REPORT $p $(cat /tmp/$p.json)"
	done
	for p in daemon $PEERS; do
		[ -e /tmp/$p.log ] || continue
		echo "VFWD-BEGIN $p"
		cat /tmp/$p.log
		echo "VFWD-END $p"
	done
}

fail() {
	echo "VFWD-FAIL $*"
	dump
	poweroff -f
}

# A guest that hangs must not hold the test: the host kills QEMU too, this
# is only the guest's own limit (and it still prints what it has).
(sleep "$timeout"; echo "VFWD-FAIL watchdog after ${timeout}s"; dump; poweroff -f) &

[ -d /sys/devices/system/node/node1 ] || fail "no NUMA node 1 (/sys/devices/system/node: $(ls /sys/devices/system/node | tr '\n' ' '))"
echo "VFWD-NUMA online=$(cat /sys/devices/system/node/online)" \
     "cpus0=$(cat /sys/devices/system/node/node0/cpulist)" \
     "cpus1=$(cat /sys/devices/system/node/node1/cpulist)"

got=""
for node in 0 1; do
	d=/sys/devices/system/node/node$node/hugepages/hugepages-2048kB
	echo "$hugepages" >$d/nr_hugepages || fail "cannot reserve hugepages on node $node"
	r=$(cat $d/nr_hugepages)
	[ "$r" -ge "$hugepages" ] || fail "node $node: $r of $hugepages hugepages reserved"
	got="$got node$node=$r"
done
echo "VFWD-HUGEPAGES$got"
mkdir -p /dev/hugepages
mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages || fail "mount hugetlbfs"
mkdir -p /tmp/zmq

# pages PID PATTERN: "n0=A n1=B", the hugepages of files matching PATTERN
# (an awk regex) that process PID has mapped, per node, as the kernel
# counts them (/proc/PID/numa_maps).
pages() {
	awk -v pat="$2" '
		$0 ~ "file=" pat {
			for (i = 1; i <= NF; i++)
				if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), f, "="); n[f[1]] += f[2] }
		}
		END { printf "n0=%d n1=%d", n[0], n[1] }' /proc/$1/numa_maps
}

# mem WHEN [VMPID VMNAME]: the kernel's word on where memory is:
#   VFWD-MEM when=WHEN daemon_n0= daemon_n1= [vm_n0= vm_n1=]
# daemon_*: the daemon's own hugepages (its files /dev/hugepages/dmap_*,
# its mbuf pools among them); vm_*: the VM peer's (all of its memory,
# vrings and buffers, in its files /dev/hugepages/VMNAMEmap_*).
mem() {
	line="VFWD-MEM when=$1 $(pages $dpid '/dev/hugepages/dmap_' | sed 's/n/daemon_n/g')"
	[ -n "$2" ] && line="$line $(pages $2 "/dev/hugepages/$3map_" | sed 's/n/vm_n/g')"
	echo "$line"
	grep -h huge /proc/$dpid/numa_maps ${2:+/proc/$2/numa_maps} | sed 's/^/  numa_maps: /'
}

alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; }

# await SECS WHAT "PID..." CMD...: polls CMD every 0.1 s until it
# succeeds; fails naming WHAT if one of the processes exits first or SECS
# pass.
await() {
	secs=$1 what=$2 pids=$3
	t=$((secs * 10))
	shift 3
	until "$@"; do
		for p in $pids; do
			alive $p || fail "$what: process $p exited first"
		done
		[ $t -gt 0 ] || fail "$what: not within ${secs}s"
		usleep 100000; t=$((t - 1))
	done
}

# wait_memif NAME: until VF peer NAME listens on the memif socket (an
# abstract one: no file, but /proc/net/unix lists it, flags 00010000 when
# listening). Otherwise a VF (re)start of the daemon could come first and
# fail ("cannot start port"), a race of this scenario, not of a real VF.
memif_listening() {
	awk -v s="@$MEMIF" '$NF == s && $4 == "00010000" { f = 1 } END { exit !f }' /proc/net/unix
}
wait_memif() {
	await 60 "VF peer $1 listening on $MEMIF" $vfpid memif_listening
}

# relay_active K: after the daemon logged relay 0's K-th VM connection,
# the last word about each direction is "active" (not dropping, not
# holding back for want of queues).
relay_active() {
	awk -v k="$1" '
		{ sub(/\r$/, "") }
		/relay 0: VM connected on/ { c++ }
		c < k { next }
		/relay 0: VF->VM active on lcore [0-9]+$/ { a = 1; next }
		/relay 0: VF->VM (stopped|active)/ { a = 0 }
		/relay 0: VM->VF active on lcore [0-9]+$/ { b = 1; next }
		/relay 0: VM->VF (stopped|active)/ { b = 0 }
		END { exit !(a && b) }' $LOG
}

# vf_peer NAME K: the VF's far side, a memif server, on lcore 0; it sends
# once /tmp/goK exists.
vf_peer() {
	vfwd-peer -l 0 --file-prefix=$1 $EAL \
		--vdev=net_memif0,role=server,socket=$MEMIF,id=0,rsize=12 -- \
		--report /tmp/$1.json $POPTS --tag 1 --expect-tag 2 --start-file /tmp/go$2 \
		>/tmp/$1.log 2>&1 &
	vfpid=$!
}

# vm_peer NAME LCORE SOCKET-MEM K: a VM, virtio_user on the relay's
# socket, its memory on the node of LCORE's CPU; it sends once /tmp/goK
# exists.
vm_peer() {
	vfwd-peer -l $2 --file-prefix=$1 $EAL --socket-mem=$3 \
		--vdev=net_virtio_user0,path=$SOCK,queue_size=4096 -- \
		--report /tmp/$1.json $POPTS --tag 2 --expect-tag 1 --start-file /tmp/go$4 \
		>/tmp/$1.log 2>&1 &
	vmpid=$!
}

# round K VF VM LCORE SOCKET-MEM: traffic through relay 0 with VM peer VM
# (the VF peer VF is already started).
round() {
	vm_peer $3 $4 $5 $1
	step vm name=$3 lcore=$4 socket_mem=$5
	await $gate "round $1: relay 0 active both ways after VM peer $3 connected" \
		"$dpid $vmpid" relay_active $1
	# Still so a moment later (no link flap after a VF restart).
	sleep 1
	relay_active $1 || fail "round $1: relay 0 went inactive again"
	mem $3 $vmpid $3
	step traffic round=$1
	touch /tmp/go$1
	wait $vfpid; echo "VFWD-EXIT name=$2 rc=$?"
	wait $vmpid; echo "VFWD-EXIT name=$3 rc=$?"
	# A DPDK process leaves its hugepage files: give the pages back.
	rm -rf /dev/hugepages/$2* /dev/hugepages/$3* /run/dpdk/$2 /run/dpdk/$3
}

# 1. The VF's far side, then the daemon.
vf_peer vf1 1
wait_memif vf1
step daemon
virtio-forwarder -n -H /dev/hugepages -p /tmp -u -g -C 1 -M 0 --server -V /tmp \
	-P net_memif0,role=client,socket=$MEMIF,id=0,rsize=12=0 \
	--zmq-port-control-ep=ipc:///tmp/zmq/port_control --zmq-stats-ep=ipc:///tmp/zmq/stats \
	--zmq-core-sched-ep=ipc:///tmp/zmq/core_sched --zmq-config-ep=ipc:///tmp/zmq/config \
	-- --file-prefix=d >$LOG 2>&1 &
dpid=$!
await 60 "the daemon's vhost-user socket $SOCK" $dpid test -S $SOCK
# The relay's pool exists once its VF started.
await 60 "relay 0's VF started" $dpid grep -q 'relay 0: VF .* started' $LOG
step daemon-up
mem up

# 2. A VM with its memory on node 0, the relay's pool on node 1.
round 1 vf1 vm1 0 "$socketmem,0"
# 3. A VM with its memory on node 1 (its lcore on CPU 1 too: memory the
# peer allocates without naming a node comes from its lcore's node).
vf_peer vf2 2
wait_memif vf2
round 2 vf2 vm2 1 "0,$socketmem"

# 4. Shutdown, as systemd stops it.
step stop
kill -TERM $dpid
(sleep 60; kill -KILL $dpid 2>/dev/null) &
killer=$!
wait $dpid; echo "VFWD-EXIT name=daemon rc=$?"
kill $killer 2>/dev/null
dump
echo "VFWD-DONE"
poweroff -f
