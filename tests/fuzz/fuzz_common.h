/* Shared by the fuzz targets: a check that aborts (libFuzzer reports it as
 * a crash and keeps the input) and the invariants of a parsed config. */
#ifndef VFWD_FUZZ_COMMON_H
#define VFWD_FUZZ_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,  \
				__LINE__, #cond);                               \
			abort();                                                \
		}                                                               \
	} while (0)

/* The string field a holds a NUL within its array. */
#define FUZZ_TERMINATED(a) FUZZ_CHECK(memchr((a), '\0', sizeof(a)) != NULL)

/* A failed parse says why. */
static inline void fuzz_check_err(const struct cfg_err *err)
{
	FUZZ_TERMINATED(err->msg);
	FUZZ_CHECK(err->msg[0] != '\0');
}

/* What every setter guarantees, whether the last parse succeeded or not
 * (a failing setter leaves its setting as it was). */
static inline void fuzz_check_config(const struct vfwd_config *c)
{
	char path[PATH_MAX + 512];
	struct cfg_err err;
	unsigned i, r;

	FUZZ_TERMINATED(c->pid_dir);
	FUZZ_TERMINATED(c->huge_dir);
	FUZZ_TERMINATED(c->socket_owner);
	FUZZ_TERMINATED(c->socket_group);
	FUZZ_TERMINATED(c->socket_dir);
	FUZZ_TERMINATED(c->socket_pattern);
	FUZZ_TERMINATED(c->vfio_vf_token);
	FUZZ_TERMINATED(c->zmq_config_ep);
	FUZZ_TERMINATED(c->zmq_port_control_ep);
	FUZZ_TERMINATED(c->zmq_stats_ep);
	FUZZ_TERMINATED(c->zmq_core_sched_ep);
	FUZZ_TERMINATED(c->config_file);
	FUZZ_CHECK(c->pid_dir[0] == '/' && c->huge_dir[0] == '/' && c->socket_dir[0] == '/');
	FUZZ_CHECK(c->vfio_vf_token[0] == '\0' || strlen(c->vfio_vf_token) == 36);
	FUZZ_CHECK(cfg_cpuset_count(&c->worker_cpus) > 0);
	FUZZ_CHECK(c->main_lcore >= 0 && c->main_lcore < VFWD_MAX_CPUS);
	FUZZ_CHECK(c->log_level >= 0 && c->log_level <= 7);
	FUZZ_CHECK(c->core_sched_log_level >= 0 && c->core_sched_log_level <= 7);
	FUZZ_CHECK(isfinite(c->core_sched_sensitivity) && c->core_sched_sensitivity >= 0);
	FUZZ_CHECK(c->core_sched_poll_interval > 0 && c->core_sched_poll_interval <= 86400);
	for (r = 0; r < VFWD_MAX_RELAYS; r++) {
		FUZZ_CHECK((c->pins[r][0] == -1) == (c->pins[r][1] == -1));
		for (i = 0; i < VFWD_NB_DIRS; i++)
			FUZZ_CHECK(c->pins[r][i] >= -1 && c->pins[r][i] < VFWD_MAX_CPUS);
	}
	FUZZ_CHECK(c->nb_static_vfs <= VFWD_MAX_RELAYS);
	for (i = 0; i < c->nb_static_vfs; i++) {
		const struct cfg_static_vf *vf = &c->static_vfs[i];
		char pci[16];

		FUZZ_TERMINATED(vf->dev);
		FUZZ_CHECK(vf->relay_id < VFWD_MAX_RELAYS);
		/* a canonical PCI address (canonical again) or net_* devargs */
		if (cfg_canon_pci(vf->dev, pci, sizeof(pci)) == 0)
			FUZZ_CHECK(strcmp(pci, vf->dev) == 0);
		else
			FUZZ_CHECK(strncmp(vf->dev, "net_", 4) == 0 && strlen(vf->dev) > 4);
	}
	FUZZ_CHECK(c->nb_warnings <= VFWD_MAX_WARNINGS);
	for (i = 0; i < c->nb_warnings; i++)
		FUZZ_TERMINATED(c->warnings[i]);
	FUZZ_CHECK(c->nb_eal_args <= VFWD_MAX_EAL_ARGS);
	/* the pattern was checked when set: a path always comes out */
	FUZZ_CHECK(cfg_socket_path(c, VFWD_MAX_RELAYS - 1, path, sizeof(path)) == 0);
	err.msg[0] = '\0';
	if (cfg_validate(c, &err) != 0)
		fuzz_check_err(&err);
}

#endif
