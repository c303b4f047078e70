/* virtio-forwarder: relays packets between SR-IOV VFs (or any DPDK ethdev)
 * and the virtio-net devices of QEMU VMs over vhost-user.
 *
 * main() orders start-up and shutdown: configuration (file, then command
 * line), the checks that give clear errors before EAL starts, EAL, workers,
 * sockets and static VFs; then it waits for a signal, applying deferred
 * vhost events, and takes everything down in reverse. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_version.h>

#include "config.h"
#include "ctl.h"
#include "hugepages.h"
#include "log.h"
#include "relay.h"
#include "telemetry.h"
#include "version.h"
#include "vhost.h"
#include "worker.h"

#define DAEMON_NAME "virtio-forwarder"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static bool eal_args_set_lcores(const struct vfwd_config *cfg)
{
	for (unsigned i = 0; i < cfg->nb_eal_args; i++)
		if (strncmp(cfg->eal_args[i], "--lcores", 8) == 0 ||
		    strncmp(cfg->eal_args[i], "-l", 2) == 0 ||
		    strncmp(cfg->eal_args[i], "-c", 2) == 0)
			return true;
	return false;
}

static bool eal_args_have(const struct vfwd_config *cfg, const char *opt)
{
	for (unsigned i = 0; i < cfg->nb_eal_args; i++)
		if (strncmp(cfg->eal_args[i], opt, strlen(opt)) == 0)
			return true;
	return false;
}

/* Worker and main CPUs must exist, or EAL fails with a message that names
 * lcores, not our settings. */
static int check_cpus_online(const struct vfwd_config *cfg)
{
	struct cfg_cpuset online;
	struct cfg_err err;
	char buf[256] = "", list[256];
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	if (cfg_parse_cpuset(buf, &online, &err) != 0)
		return 0;
	for (unsigned cpu = 0; cpu < VFWD_MAX_CPUS; cpu++) {
		if (!cfg_cpuset_has(&cfg->worker_cpus, cpu) || cfg_cpuset_has(&online, cpu))
			continue;
		cfg_cpuset_format(&cfg->worker_cpus, list, sizeof(list));
		VLOG_CRIT("VIRTIOFWD_CPU_MASK=%s: CPU %u is not online on this host "
			  "(online CPUs: %s); choose worker CPUs among those", list, cpu, buf);
		return -1;
	}
	if (!cfg_cpuset_has(&online, (unsigned)cfg->main_lcore)) {
		VLOG_CRIT("VIRTIOFWD_MASTER_LCORE=%d: CPU %d is not online on this host "
			  "(online CPUs: %s)", cfg->main_lcore, cfg->main_lcore, buf);
		return -1;
	}
	return 0;
}

static int write_pid_file(const struct vfwd_config *cfg, char *path, size_t len)
{
	char buf[32];
	int fd, n;

	snprintf(path, len, "%s/%s.pid", cfg->pid_dir, DAEMON_NAME);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		VLOG_CRIT("cannot write PID file %s: %s (set VIRTIOFWD_PID_DIR / -p to a "
			  "writable directory)", path, strerror(errno));
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n)
		VLOG_WARN("short write to PID file %s", path);
	close(fd);
	return 0;
}

/* EAL arguments from our settings, then the user's after "--". */
static int start_eal(const struct vfwd_config *cfg, const char *prog)
{
	static char lcores[2048], main_lcore[16], huge[PATH_MAX + 16], loglvl[32],
		token[64], prefix[64];
	char *argv[16 + VFWD_MAX_EAL_ARGS];
	int argc = 0, n;

	argv[argc++] = (char *)prog;
	if (!eal_args_set_lcores(cfg)) {
		n = snprintf(lcores, sizeof(lcores), "%d", cfg->main_lcore);
		for (unsigned cpu = 0; cpu < VFWD_MAX_CPUS; cpu++)
			if (cfg_cpuset_has(&cfg->worker_cpus, cpu) && n < (int)sizeof(lcores))
				n += snprintf(lcores + n, sizeof(lcores) - (size_t)n, ",%u", cpu);
		argv[argc++] = (char *)"-l";
		argv[argc++] = lcores;
	}
	snprintf(main_lcore, sizeof(main_lcore), "--main-lcore=%d", cfg->main_lcore);
	argv[argc++] = main_lcore;
	snprintf(huge, sizeof(huge), "--huge-dir=%s", cfg->huge_dir);
	argv[argc++] = huge;
	/* DPDK's levels are syslog's plus one. */
	snprintf(loglvl, sizeof(loglvl), "--log-level=%d", cfg->log_level + 1);
	argv[argc++] = loglvl;
	if (!eal_args_have(cfg, "--file-prefix")) {
		snprintf(prefix, sizeof(prefix), "--file-prefix=%s", DAEMON_NAME);
		argv[argc++] = prefix;
	}
	/* Probe no PCI device at start-up (the allow-list names none that a
	 * driver claims): VFs are probed one by one when relays get them, and
	 * other DPDK applications' devices are left alone. */
	if (!eal_args_have(cfg, "-a") && !eal_args_have(cfg, "--allow") &&
	    !eal_args_have(cfg, "--no-pci")) {
		argv[argc++] = (char *)"-a";
		argv[argc++] = (char *)"0000:00:00.0";
	}
	if (cfg->vfio_vf_token[0]) {
		snprintf(token, sizeof(token), "--vfio-vf-token=%s", cfg->vfio_vf_token);
		argv[argc++] = token;
	}
	for (unsigned i = 0; i < cfg->nb_eal_args; i++)
		argv[argc++] = cfg->eal_args[i];
	argv[argc] = NULL;
	{
		char line[4096];
		int len = 0;

		for (int i = 1; i < argc && len < (int)sizeof(line); i++)
			len += snprintf(line + len, sizeof(line) - (size_t)len, " %s", argv[i]);
		VLOG_INFO("EAL arguments:%s", line);
	}
	if (rte_eal_init(argc, argv) < 0) {
		if (rte_errno == ENOMEM)
			VLOG_CRIT("DPDK EAL initialisation failed: no free hugepage memory in %s: "
				  "reserve more (echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/"
				  "nr_hugepages), stop what holds them, or raise the size= limit of "
				  "that mount", cfg->huge_dir);
		else
			VLOG_CRIT("DPDK EAL initialisation failed: %s", rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static int start_workers(const struct vfwd_config *cfg)
{
	unsigned lcores[WORKER_MAX], n = 0;

	for (unsigned cpu = 0; cpu < VFWD_MAX_CPUS && n < WORKER_MAX; cpu++) {
		if (!cfg_cpuset_has(&cfg->worker_cpus, cpu))
			continue;
		if (!rte_lcore_is_enabled(cpu) || cpu == rte_get_main_lcore()) {
			VLOG_CRIT("worker CPU %u is not an EAL worker lcore", cpu);
			return -1;
		}
		lcores[n++] = cpu;
	}
	if (worker_init(lcores, n) != 0) {
		VLOG_CRIT("cannot set up %u workers", n);
		return -1;
	}
	return worker_launch_all();
}

static void add_sockets_and_vfs(const struct vfwd_config *cfg)
{
	char path[PATH_MAX], err[512];

	if (!cfg->dynamic_sockets) {
		for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
			if (cfg_socket_path(cfg, id, path, sizeof(path)) != 0 ||
			    relay_add_socket(id, path, err, sizeof(err)) != 0)
				VLOG_ERR("relay %u: %s", id, err);
		}
		VLOG_INFO("vhost-user %s sockets %s/%s for relays 0-%u",
			  cfg->vhost_client ? "client" : "server", cfg->socket_dir,
			  cfg->socket_pattern, VFWD_MAX_RELAYS - 1);
	} else {
		VLOG_INFO("dynamic sockets: no vhost-user socket until one is added "
			  "through port control");
	}
	/* A VF that cannot be attached is an error for that relay only: the
	 * others keep serving their VMs. */
	for (unsigned i = 0; i < cfg->nb_static_vfs; i++) {
		const struct cfg_static_vf *vf = &cfg->static_vfs[i];

		if (relay_add_vf(vf->relay_id, vf->dev, err, sizeof(err)) != 0)
			VLOG_ERR("relay %u: static VF not attached: %s", vf->relay_id, err);
	}
}

static int load_config(struct vfwd_config *cfg, int argc, char **argv)
{
	const char *path = cfg_config_path_from_args(argc, argv);
	struct cfg_err err;

	cfg_defaults(cfg);
	if (path || access(VFWD_DEFAULT_CONFIG_FILE, F_OK) == 0) {
		if (cfg_load_file(cfg, path ? path : VFWD_DEFAULT_CONFIG_FILE, &err) != 0) {
			fprintf(stderr, "%s: %s\n", DAEMON_NAME, err.msg);
			return -1;
		}
	}
	if (cfg_parse_args(cfg, argc, argv, &err) != 0 ||
	    (!cfg->show_help && !cfg->show_version && cfg_validate(cfg, &err) != 0)) {
		fprintf(stderr, "%s: %s\n", DAEMON_NAME, err.msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct vfwd_config cfg;
	char err[1024], pid_path[PATH_MAX + 32] = "", cpus[256];
	unsigned last_count = ~0u;
	time_t last_status = 0;

	if (load_config(&cfg, argc, argv) != 0)
		return 1;
	if (cfg.show_help) {
		cfg_usage(stdout, argv[0]);
		return 0;
	}
	if (cfg.show_version) {
		printf("%s %s (built with %s, up to %u relays, %u ethdev ports)\n",
		       DAEMON_NAME, VFWD_VERSION, rte_version(), VFWD_MAX_RELAYS,
		       RTE_MAX_ETHPORTS);
		return 0;
	}
	vlog_open(DAEMON_NAME, cfg.log_level, cfg.daemonize || cfg.log_syslog);
	for (unsigned i = 0; i < cfg.nb_warnings; i++)
		VLOG_WARN("%s", cfg.warnings[i]);
	if (!eal_args_set_lcores(&cfg) && check_cpus_online(&cfg) != 0)
		return 1;
	if (huge_check(cfg.huge_dir, err, sizeof(err)) != 0 ||
	    vhost_check_socket_dir(&cfg, err, sizeof(err)) != 0) {
		VLOG_CRIT("%s", err);
		if (cfg.daemonize)
			fprintf(stderr, "%s: %s\n", DAEMON_NAME, err);
		return 1;
	}
	if (cfg.daemonize && daemon(0, 0) != 0) {
		VLOG_CRIT("cannot daemonize: %s", strerror(errno));
		return 1;
	}
	if (write_pid_file(&cfg, pid_path, sizeof(pid_path)) != 0)
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	cfg_cpuset_format(&cfg.worker_cpus, cpus, sizeof(cpus));
	VLOG_NOTICE("%s %s starting (%s): workers on CPUs %s, main lcore %d, vhost-user %s mode",
		    DAEMON_NAME, VFWD_VERSION, rte_version(), cpus, cfg.main_lcore,
		    cfg.vhost_client ? "client" : "server");
	if (start_eal(&cfg, argv[0]) != 0)
		goto fail_pid;
	if (!cfg.daemonize && !cfg.log_syslog)
		rte_openlog_stream(stderr);
	if (relay_init(&cfg) != 0 || vhost_setup(&cfg) != 0 || start_workers(&cfg) != 0)
		goto fail_eal;
	if (telem_register() != 0)
		VLOG_WARN("DPDK telemetry commands not registered");
	add_sockets_and_vfs(&cfg);
	ctl_start(&cfg);
	sd_notify(0, "READY=1");

	while (!stop_requested) {
		unsigned count;

		relay_process_events();
		count = relay_count();
		/* At most once a second: sd_notify blocks when its reader lags,
		 * and a control client churning relays must not make this loop
		 * (which restarts VFs and follows links) wait on systemd. */
		if (count != last_count && time(NULL) != last_status) {
			sd_notifyf(0, "STATUS=%u relays in use", count);
			last_count = count;
			last_status = time(NULL);
		}
		usleep(10000);
	}

	VLOG_NOTICE("stopping");
	sd_notify(0, "STOPPING=1");
	ctl_stop();
	relay_shutdown();
	worker_stop_all();
	rte_eal_cleanup();
	unlink(pid_path);
	VLOG_NOTICE("stopped");
	return 0;

fail_eal:
	rte_eal_cleanup();
fail_pid:
	unlink(pid_path);
	return 1;
}
