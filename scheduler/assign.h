/* assign: where each relay direction should run, from what each one was
 * measured to cost. A pure function (no I/O, no clock, no state), so that
 * it can be tested on synthetic loads; the scheduler daemon (main.c) feeds
 * it measurements and applies what it answers.
 *
 *   as_assign(cpus, nb_cpus, dirs, nb_dirs, params, result)
 *
 * Load is a fraction of one core: the TSC cycles a worker spent on polls
 * of a direction that moved packets, over the cycles that elapsed. A CPU's
 * load is the sum of its directions' loads.
 *
 * How:
 *  - Each direction may only run on worker CPUs of its relay's NUMA node
 *    (any worker when that node has none, or with global_numa).
 *  - Directions held in place: pinned ones with keep_pins, and those this
 *    scheduler moved fewer than `hold` polls ago (hysteresis: a move is not
 *    undone by the next noisy measurement).
 *  - Directions that must move whatever the gain: those on a CPU that is
 *    not a worker, and those off their NUMA node (unless held).
 *  - Two candidate placements, each refined by local search (single moves
 *    and swaps that lower the busier of the two CPUs involved): one built
 *    from scratch (largest direction first onto the least loaded allowed
 *    CPU, which escapes the current placement's local optimum), one
 *    starting from the current placement (which moves fewer directions).
 *    The better one, by the sorted CPU loads, is kept.
 *  - It is applied only if it lowers the busiest CPU by more than
 *    `sensitivity` of that CPU's load; where the busiest CPU cannot change
 *    (one direction alone fills it), the next busiest counts, and so on.
 *    Load differences up to min_gain are treated as equal (noise).
 */
#ifndef VFWD_ASSIGN_H
#define VFWD_ASSIGN_H

#include <stdbool.h>

#include "config.h"

#define AS_MAX_CPUS 256
#define AS_MAX_DIRS (VFWD_MAX_RELAYS * VFWD_NB_DIRS)

struct as_cpu {
	int cpu;                /* worker CPU number */
	int numa;               /* its NUMA node */
};

struct as_dir {
	unsigned relay;         /* for the caller's logs */
	int dir;                /* VFWD_VF_TO_VM or VFWD_VM_TO_VF, likewise */
	double load;            /* fraction of a core; negative or NaN count as 0 */
	int cpu;                /* CPU serving it now */
	int numa;               /* NUMA node of the relay's buffers */
	bool pinned;            /* pinned by VIRTIOFWD_CPU_PINS */
	unsigned since_move;    /* polls since this scheduler moved it (0: this
				 * poll; UINT_MAX: never) */
};

struct as_params {
	double sensitivity;     /* relative drop of the busiest CPU's load needed */
	double min_gain;        /* fraction of a core: smaller differences are noise */
	unsigned hold;          /* a moved direction stays put while since_move < hold */
	bool global_numa;       /* any worker for any relay */
	bool keep_pins;         /* pinned directions stay (else pins may be overridden) */
};

enum as_why {
	AS_STAY,                /* not moved */
	AS_BALANCE,             /* moved to balance load */
	AS_NOT_WORKER,          /* its CPU is not a worker CPU */
	AS_NUMA,                /* its CPU is not on its relay's NUMA node */
};

struct as_result {
	int cpu[AS_MAX_DIRS];           /* where each input direction should run */
	enum as_why why[AS_MAX_DIRS];
	double before[AS_MAX_CPUS];     /* load of each input CPU now */
	double after[AS_MAX_CPUS];      /* and with the moves */
	unsigned nb_moves;
	bool rebalanced;                /* the moves include balancing ones */
	/* The balancing that was considered, applied or not: the busiest CPU
	 * load (at the first rank where the two placements differ) now and
	 * with the best placement found; equal when none was better. */
	double peak_now, peak_best;
};

/* Returns 0, or -1 if there is no worker CPU or more CPUs or directions
 * than the limits (then every direction stays). */
int as_assign(const struct as_cpu *cpus, unsigned nb_cpus, const struct as_dir *dirs,
	      unsigned nb_dirs, const struct as_params *params, struct as_result *out);

const char *as_why_str(enum as_why why);

#endif
