/* config: the daemon's settings, from /etc/default/virtioforwarder and the
 * command line (which overrides the file). Pure C, no DPDK, so that it can be
 * unit-tested and fuzzed on its own.
 *
 *   cfg_defaults(c)                 fill in the built-in defaults
 *   cfg_load_file(c, path, err)     apply VAR=value lines of a config file
 *   cfg_parse_args(c, argc, argv, err)  apply command-line options
 *   cfg_validate(c, err)            cross-checks (pins vs mask, main lcore)
 *
 * Every function returns 0 on success, or -1 with a message in err that
 * names the variable or option, the bad value and what would be valid.
 * Unknown config variables are not errors: they are reported through
 * c->warnings so that the caller can log them.
 */
#ifndef VFWD_CONFIG_H
#define VFWD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#define VFWD_MAX_RELAYS 64      /* relay (virtio) ids are 0..63 */
#define VFWD_MAX_CPUS 1024      /* highest CPU number accepted + 1 */
#define VFWD_MAX_EAL_ARGS 32
#define VFWD_DEVARGS_MAX 512    /* a VF: PCI address or vdev devargs */
#define VFWD_BOND_MAX_MEMBERS 16 /* devices in one bond of VFs */
#define VFWD_MAX_VF_QUEUES 32   /* queue pairs of a VF, as of a virtio device */
/* A bond's name: DPDK names its device "net_bonding_<name>" and ethdev
 * names hold at most 63 characters. */
#define VFWD_BOND_NAME_MAX 48
#define VFWD_ERR_MAX 512
#define VFWD_MAX_WARNINGS 16

#define VFWD_DEFAULT_CONFIG_FILE "/etc/default/virtioforwarder"
#define VFWD_DEFAULT_ZMQ_PORT_CONTROL_EP "ipc:///var/run/virtio-forwarder/port_control"
#define VFWD_DEFAULT_ZMQ_STATS_EP "ipc:///var/run/virtio-forwarder/stats"
#define VFWD_DEFAULT_ZMQ_CORE_SCHED_EP "ipc:///var/run/virtio-forwarder/core_sched"
#define VFWD_DEFAULT_ZMQ_CONFIG_EP "ipc:///var/run/virtio-forwarder/config"
#define VFWD_CFG_LINE_MAX 4096  /* longest config file line, bytes */

enum vfwd_dir { VFWD_VF_TO_VM = 0, VFWD_VM_TO_VF = 1, VFWD_NB_DIRS = 2 };

/* A CPU bitmap over CPU numbers 0..VFWD_MAX_CPUS-1. */
struct cfg_cpuset {
	uint64_t bits[VFWD_MAX_CPUS / 64];
};

struct cfg_static_vf {
	char dev[VFWD_DEVARGS_MAX]; /* canonical PCI "dddd:bb:ss.f" or vdev devargs */
	unsigned relay_id;
};

struct cfg_err {
	char msg[VFWD_ERR_MAX];
};

struct vfwd_config {
	struct cfg_cpuset worker_cpus;   /* VIRTIOFWD_CPU_MASK, -C */
	int main_lcore;                  /* VIRTIOFWD_MASTER_LCORE, -M (default 0) */
	bool daemonize;                  /* false with -n */
	bool log_syslog;                 /* daemon: always; -n=log_syslog */
	int log_level;                   /* VIRTIOFWD_LOG_LEVEL, -l: 0..7 */
	char pid_dir[PATH_MAX];          /* VIRTIOFWD_PID_DIR, -p */
	char huge_dir[PATH_MAX];         /* VIRTIOFWD_HUGETLBFS_MOUNT_POINT, -H */
	char socket_owner[64];           /* VIRTIOFWD_SOCKET_OWNER, -u ("" = inherit) */
	char socket_group[64];           /* VIRTIOFWD_SOCKET_GROUP, -g ("" = inherit) */
	char socket_dir[PATH_MAX];       /* VIRTIOFWD_SOCKET_DIR, -V */
	char socket_pattern[256];        /* VIRTIOFWD_SOCKET_FNAME_PATTERN, -S: one %u */
	/* Relay CPU pins: -1 = automatic. [relay][VFWD_VF_TO_VM / VFWD_VM_TO_VF] */
	int pins[VFWD_MAX_RELAYS][VFWD_NB_DIRS];
	struct cfg_static_vf static_vfs[VFWD_MAX_RELAYS]; /* VIRTIOFWD_STATIC_VFS, -P */
	unsigned nb_static_vfs;
	bool vhost_client;               /* VIRTIOFWD_VHOST_CLIENT, -i */
	bool dynamic_sockets;            /* VIRTIOFWD_DYNAMIC_SOCKETS, -d */
	bool jumbo;                      /* VIRTIOFWD_JUMBO, -J */
	bool mrgbuf;                     /* VIRTIOFWD_MRGBUF, -R */
	bool tso;                        /* VIRTIOFWD_TSO, -T */
	unsigned vf_queues;              /* VIRTIOFWD_VF_QUEUES, --vf-queues */
	bool same_numa;                  /* VIRTIOFWD_CPU_NIC_SAME_NUMA, -a */
	bool core_sched_enable;          /* VIO4WD_CORE_SCHED_ENABLE */
	/* VFIO VF token: "" = not passed to EAL, else a UUID ("0" becomes the
	 * all-zero UUID, DPDK's default). VIRTIOFWD_VFIO_VF_TOKEN, -t */
	char vfio_vf_token[40];
	/* ZeroMQ endpoints. -Y -Z -z -s. The strings always hold an endpoint
	 * (the default ipc:// one unless configured); whether a service runs
	 * is given by the *_on flags below (all off by default; a non-empty
	 * VIRTIOFWD_ZMQ_*_EP or the option turns it on, an empty one off).
	 * For the core scheduler service use cfg_core_sched_active(). */
	char zmq_config_ep[PATH_MAX];
	char zmq_port_control_ep[PATH_MAX];
	char zmq_stats_ep[PATH_MAX];
	char zmq_core_sched_ep[PATH_MAX];
	bool zmq_port_control_on, zmq_stats_on, zmq_core_sched_on, zmq_config_on;
	/* Scheduler settings, read here so both daemons share one parser. */
	double core_sched_sensitivity;   /* VIO4WD_CORE_SCHED_SENSITIVITY */
	int core_sched_log_level;        /* VIO4WD_CORE_SCHED_LOG_LEVEL */
	double core_sched_poll_interval; /* VIO4WD_CORE_SCHED_POLL_INTERVAL, seconds */
	bool core_sched_global_numa;     /* VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT */
	/* Extra EAL arguments given after "--" on the command line. */
	char *eal_args[VFWD_MAX_EAL_ARGS];
	unsigned nb_eal_args;
	bool show_version;               /* -v */
	bool show_help;                  /* -h */
	char config_file[PATH_MAX];      /* --config */
	char warnings[VFWD_MAX_WARNINGS][VFWD_ERR_MAX];
	unsigned nb_warnings;
};

void cfg_defaults(struct vfwd_config *c);
int cfg_load_file(struct vfwd_config *c, const char *path, struct cfg_err *err);
/* Applies one VAR=value assignment (value already unquoted; for bash
 * arrays, the elements joined by single spaces). Used by cfg_load_file. */
int cfg_set_var(struct vfwd_config *c, const char *var, const char *value,
		struct cfg_err *err);
/* Finds "--config FILE" / "--config=FILE" in argv without consuming it. */
const char *cfg_config_path_from_args(int argc, char **argv);
int cfg_parse_args(struct vfwd_config *c, int argc, char **argv, struct cfg_err *err);
int cfg_validate(const struct vfwd_config *c, struct cfg_err *err);
void cfg_usage(FILE *out, const char *prog);

/* The core scheduler (CPU migration) service runs iff VIO4WD_CORE_SCHED_ENABLE
 * (or -s) is set; it listens on c->zmq_core_sched_ep (the default endpoint
 * unless VIRTIOFWD_ZMQ_CORE_SCHED_EP / -s=EP gave one). */
bool cfg_core_sched_active(const struct vfwd_config *c);
/* The vhost-user socket path of a relay: socket_dir "/" socket_pattern with
 * %u = relay. The pattern is re-checked here (it is used as a printf
 * format). Returns 0, or -1 if the pattern is invalid or the result does
 * not fit len. */
int cfg_socket_path(const struct vfwd_config *c, unsigned relay, char *buf, size_t len);

/* Small parsers, exported for reuse (tools, scheduler) and tests. */
int cfg_parse_cpuset(const char *s, struct cfg_cpuset *out, struct cfg_err *err);
/* "R:C[,C]" -> relay R, cpus[0] VF->VM, cpus[1] VM->VF (same if one given). */
int cfg_parse_pin(const char *s, unsigned *relay, int cpus[2], struct cfg_err *err);
/* "PCI=ID" or "devargs=ID", split at the last '='. */
int cfg_parse_static_vf(const char *s, struct cfg_static_vf *out, struct cfg_err *err);
/* "dddd:bb:ss.f" or "bb:ss.f", any case -> canonical lower-case
 * "dddd:bb:ss.f" in out (at least 13 bytes). Returns -1 if s is not one. */
int cfg_canon_pci(const char *s, char *out, size_t outlen);
int cfg_parse_bool(const char *s, bool *out);

static inline bool cfg_cpuset_has(const struct cfg_cpuset *s, unsigned cpu)
{
	return cpu < VFWD_MAX_CPUS && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}
static inline void cfg_cpuset_add(struct cfg_cpuset *s, unsigned cpu)
{
	s->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}
unsigned cfg_cpuset_count(const struct cfg_cpuset *s);
/* Writes "1,2,5" into buf. */
void cfg_cpuset_format(const struct cfg_cpuset *s, char *buf, size_t len);

#endif
