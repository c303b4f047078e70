#!/bin/busybox sh
# /init of the test guest (tests/vm/build-guest.sh packs it with busybox,
# the virtio modules and vfwd-guest-tool). It reads its scenario from the
# kernel command line, runs it, prints markers on the serial console and
# powers off (QEMU runs with -no-reboot, so it exits).
#
# Kernel command line (vfwd.*; values contain no spaces):
#   vfwd.ip=10.99.0.2/24     address of eth0
#   vfwd.peer=10.99.0.1      the host end (the relay's VF side)
#   vfwd.peermac=MAC         its MAC: a static ARP entry, so no ARP traffic
#                            and packet counts are exact
#   vfwd.mtu=1500            eth0's MTU
#   vfwd.interval=0.1        between pings
#   vfwd.timeout=120         watchdog: power off after this many seconds
#   vfwd.steps=a,b,...       the scenario, steps in order (below)
#
# Steps (arguments separated by ':'):
#   ping:N[:SIZE]     ping the peer N times: VFWD-PING tx=N rx=M
#   pingfor:SECS      ping every 0.2 s for SECS seconds, ping's own line per
#                     reply ("... seq=S ttl=..."), then VFWD-PING tx= rx=
#   echo:N[:SECS]     wait until N echo requests were answered (the host
#                     pings us): VFWD-ECHO n=N
#   rxwait:N[:SECS]   wait until eth0 received N packets: VFWD-RXWAIT n=
#   rxquiet:SECS[:MAX] wait until eth0 received nothing for SECS seconds
#                     (at most MAX): VFWD-RXQUIET n=
#   udp:N:SIZE:PORTS  send N UDP datagrams to the peer, one flow per
#                     destination port 9000..; one sender per CPU, pinned:
#                     VFWD-UDP sent= errors=
#   tcpsend:PORT:BYTES  send BYTES of the test pattern over TCP to the peer's
#                     PORT, wait for it to close: VFWD-TCPSEND bytes=N
#   tcprecv:PORT:BYTES  VFWD-TCPLISTEN once listening on PORT, then take one
#                     connection and check it against the pattern:
#                     VFWD-TCPRECV bytes=N bad=B
#   channels:Q        use Q queue pairs (ethtool -L combined Q)
#   stats             VFWD-STATS <eth0 counters> and VFWD-QSTATS <per queue>
#   sleep:SECS
#   ready             VFWD-READY (also printed once eth0 is up)
#   poweroff | reboot
# After the last step: VFWD-DONE, then power off.

/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin:/sbin

ip=10.99.0.2/24 peer=10.99.0.1 peermac= mtu=1500 interval=0.1 timeout=120 steps=
for w in $(cat /proc/cmdline); do
	case "$w" in
	vfwd.*=*)
		k=${w%%=*}; k=${k#vfwd.}; v=${w#*=}
		case "$k" in
		ip|peer|peermac|mtu|interval|timeout|steps) eval "$k=\$v" ;;
		esac ;;
	esac
done

fail() {
	echo "VFWD-FAIL $*"
	poweroff -f
}

# A guest that hangs must not hold the test: the host kills QEMU too, this
# is only the guest's own limit.
(sleep "$timeout"; echo "VFWD-FAIL watchdog after ${timeout}s"; poweroff -f) &

for m in $(cat /modules.order); do
	insmod "/lib/modules/$m.ko" || fail "insmod $m"
done
n=0
while [ ! -e /sys/class/net/eth0 ]; do
	n=$((n + 1)); [ $n -gt 100 ] && fail "no eth0"
	usleep 100000
done
ip link set lo up
ip link set eth0 mtu "$mtu" || fail "mtu $mtu"
ip addr add "$ip" dev eth0
ip link set eth0 up
[ -n "$peermac" ] && arp -s "$peer" "$peermac"
# features: the negotiated virtio feature bits, bit 0 first (32 VERSION_1,
# 34 RING_PACKED).
echo "VFWD-READY mac=$(cat /sys/class/net/eth0/address) features=$(cat /sys/class/net/eth0/device/features)"

# The value of column NAME of the "PROTO:" lines of /proc/net/snmp.
snmp() {
	awk -v p="$1:" -v f="$2" '$1 == p { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 }
		else print $(c[f]) }' /proc/net/snmp
}

# wait_for CMD N SECS: until the number CMD prints reaches N.
wait_for() {
	t=$(( $3 * 10 ))
	while [ "$($1)" -lt "$2" ] && [ $t -gt 0 ]; do
		usleep 100000; t=$((t - 1))
	done
	$1
}
echos() { snmp Icmp OutEchoReps; }
rxpkts() { cat /sys/class/net/eth0/statistics/rx_packets; }

pingsum() {
	tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/ping)
	rx=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/ping)
	echo "VFWD-PING tx=${tx:-0} rx=${rx:-0}"
}

for step in $(echo "$steps" | tr ',' ' '); do
	set -- $(echo "$step" | tr ':' ' ')
	case "$1" in
	ping)
		ping -q -c "$2" -i "$interval" -W 3 -s "${3:-56}" "$peer" >/tmp/ping 2>&1
		pingsum ;;
	pingfor)
		ping -i 0.2 -w "$2" "$peer" 2>&1 | tee /tmp/ping
		pingsum ;;
	echo) echo "VFWD-ECHO n=$(wait_for echos "$2" "${3:-60}")" ;;
	rxwait) echo "VFWD-RXWAIT n=$(wait_for rxpkts "$2" "${3:-60}")" ;;
	rxquiet)
		last=$(rxpkts) still=0 t=$(( ${3:-60} * 10 ))
		while [ $still -lt $(( $2 * 10 )) ] && [ $t -gt 0 ]; do
			usleep 100000; t=$((t - 1)); now=$(rxpkts)
			if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0 last=$now; fi
		done
		echo "VFWD-RXQUIET n=$(rxpkts)" ;;
	udp)
		# One sender per CPU, pinned: each CPU has its own TX queues (XPS).
		ncpu=$(nproc) c=0 pids=""
		while [ $c -lt $ncpu ]; do
			cnt=$(( $2 / ncpu )); [ $c -eq 0 ] && cnt=$(( $2 - cnt * (ncpu - 1) ))
			taskset -c $c vfwd-guest-tool udp "$peer" 9000 "$4" $cnt "$3" >/tmp/udp.$c &
			pids="$pids $!" c=$((c + 1))
		done
		wait $pids
		echo "VFWD-UDP $(sed 's/[a-z]*=//g' /tmp/udp.* |
			awk '{ s += $1; e += $2 } END { printf "sent=%d errors=%d", s, e }')" ;;
	tcpsend) echo "VFWD-TCPSEND $(vfwd-guest-tool tcpsend "$peer" "$2" "$3")" ;;
	tcprecv)
		# Says it listens before it blocks: the host connects then.
		vfwd-guest-tool tcprecv "$2" "$3" | while read -r line; do
			case "$line" in listening) echo "VFWD-TCPLISTEN" ;; *) echo "VFWD-TCPRECV $line" ;; esac
		done ;;
	channels) vfwd-guest-tool channels eth0 "$2" || fail "channels $2" ;;
	stats)
		s=""
		for f in rx_packets tx_packets rx_bytes tx_bytes rx_dropped tx_dropped rx_errors; do
			s="$s $f=$(cat /sys/class/net/eth0/statistics/$f)"
		done
		echo "VFWD-STATS$s"
		echo "VFWD-QSTATS $(vfwd-guest-tool stats eth0)" ;;
	sleep) sleep "$2" ;;
	ready) echo "VFWD-READY" ;;
	poweroff) echo "VFWD-DONE"; poweroff -f ;;
	reboot) echo "VFWD-REBOOT"; reboot -f ;;
	*) fail "unknown step $1" ;;
	esac
done
echo "VFWD-DONE"
poweroff -f
