#include "assign.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Each local-search step lowers the sum of squared CPU loads by at least
 * 2 * tol^2, so the search ends by itself; this bound only guards against
 * a pathological input making it slow. */
#define MAX_STEPS (8 * AS_MAX_DIRS)
/* With min_gain 0, a step must still gain something representable, or
 * rounding could make two placements trade places forever. */
#define TOL_FLOOR 1e-9

struct plan {
	int at[AS_MAX_DIRS];            /* CPU index per direction, -1: nowhere */
	double load[AS_MAX_CPUS];
};

struct ctx {
	const struct as_cpu *cpus;
	unsigned nb_cpus;
	const struct as_dir *dirs;
	unsigned nb_dirs;
	const struct as_params *p;
	double tol;
	double load[AS_MAX_DIRS];       /* sanitised */
	int now[AS_MAX_DIRS];           /* CPU index now, -1: not a worker */
	bool held[AS_MAX_DIRS];
	bool must_move[AS_MAX_DIRS];
	bool node_has_worker[AS_MAX_DIRS];
};

const char *as_why_str(enum as_why why)
{
	switch (why) {
	case AS_BALANCE:
		return "balance";
	case AS_NOT_WORKER:
		return "its CPU is not a worker";
	case AS_NUMA:
		return "its CPU is not on the relay's NUMA node";
	default:
		return "stays";
	}
}

static bool allowed(const struct ctx *x, unsigned d, unsigned c)
{
	return x->p->global_numa || !x->node_has_worker[d] ||
	       x->cpus[c].numa == x->dirs[d].numa;
}

static void plan_put(struct plan *pl, const struct ctx *x, unsigned d, int c)
{
	pl->at[d] = c;
	pl->load[c] += x->load[d];
}

/* The least loaded allowed CPU; the direction's own CPU when it is within
 * tol of that, so that near-ties do not move anything. */
static int least_loaded(const struct ctx *x, const struct plan *pl, unsigned d)
{
	int best = -1;

	for (unsigned c = 0; c < x->nb_cpus; c++)
		if (allowed(x, d, c) && (best < 0 || pl->load[c] < pl->load[best]))
			best = (int)c;
	if (x->now[d] >= 0 && allowed(x, d, (unsigned)x->now[d]) &&
	    pl->load[x->now[d]] <= pl->load[best] + x->tol)
		return x->now[d];
	return best;
}

/* Largest first: the big ones decide the balance, the small ones fill the
 * gaps they leave. Ties keep input order (deterministic). */
static void place_greedy(const struct ctx *x, struct plan *pl, const bool *which)
{
	unsigned order[AS_MAX_DIRS], n = 0;

	for (unsigned d = 0; d < x->nb_dirs; d++) {
		unsigned i;

		if (!which[d])
			continue;
		for (i = n; i > 0 && x->load[order[i - 1]] < x->load[d]; i--)
			order[i] = order[i - 1];
		order[i] = d;
		n++;
	}
	for (unsigned i = 0; i < n; i++)
		plan_put(pl, x, order[i], least_loaded(x, pl, order[i]));
}

/* Moving load `shift` from CPU s to CPU t: by how much the busier of the
 * two gets less busy (negative: busier), and the change of the sum of
 * squared loads (the tie-breaker: it rewards evening out). */
static double pair_gain(const struct plan *pl, int s, int t, double shift, double *sq)
{
	double a = pl->load[s], b = pl->load[t];

	*sq = 2.0 * shift * (shift + b - a);
	return fmax(a, b) - fmax(a - shift, b + shift);
}

/* Local search: the single move or swap of two directions that most
 * evens out the loads, as long as one lowers the busier CPU of its pair by
 * more than tol. Held directions take no part. */
static void improve(const struct ctx *x, struct plan *pl)
{
	for (unsigned step = 0; step < MAX_STEPS; step++) {
		double best_sq = 0, sq;
		int bd = -1, be = -1, bc = -1;

		for (unsigned d = 0; d < x->nb_dirs; d++) {
			if (x->held[d])
				continue;
			for (unsigned c = 0; c < x->nb_cpus; c++) {
				if ((int)c == pl->at[d] || !allowed(x, d, c))
					continue;
				if (pair_gain(pl, pl->at[d], (int)c, x->load[d], &sq) > x->tol &&
				    sq < best_sq) {
					best_sq = sq;
					bd = (int)d;
					bc = (int)c;
					be = -1;
				}
			}
			for (unsigned e = d + 1; e < x->nb_dirs; e++) {
				int s = pl->at[d], t = pl->at[e];

				if (x->held[e] || s == t || !allowed(x, d, (unsigned)t) ||
				    !allowed(x, e, (unsigned)s))
					continue;
				if (pair_gain(pl, s, t, x->load[d] - x->load[e], &sq) > x->tol &&
				    sq < best_sq) {
					best_sq = sq;
					bd = (int)d;
					be = (int)e;
				}
			}
		}
		if (bd < 0)
			return;
		if (be < 0) {
			pl->load[pl->at[bd]] -= x->load[bd];
			plan_put(pl, x, (unsigned)bd, bc);
		} else {
			int s = pl->at[bd], t = pl->at[be];

			pl->load[s] -= x->load[bd];
			pl->load[t] -= x->load[be];
			plan_put(pl, x, (unsigned)bd, t);
			plan_put(pl, x, (unsigned)be, s);
		}
	}
}

static int desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x < y) - (x > y);
}

/* Compares CPU loads sorted busiest first, up to tol: <0 if a is better
 * (its first load that differs is lower), >0 if worse, 0 if equal. *va
 * and *vb are the loads at that rank (the busiest ones when equal). */
static int compare(const struct ctx *x, const struct plan *a, const struct plan *b,
		   double *va, double *vb)
{
	double sa[AS_MAX_CPUS], sb[AS_MAX_CPUS];

	memcpy(sa, a->load, x->nb_cpus * sizeof(double));
	memcpy(sb, b->load, x->nb_cpus * sizeof(double));
	qsort(sa, x->nb_cpus, sizeof(double), desc);
	qsort(sb, x->nb_cpus, sizeof(double), desc);
	*va = sa[0];
	*vb = sb[0];
	for (unsigned i = 0; i < x->nb_cpus; i++) {
		if (fabs(sa[i] - sb[i]) > x->tol) {
			*va = sa[i];
			*vb = sb[i];
			return sa[i] < sb[i] ? -1 : 1;
		}
	}
	return 0;
}

static void setup(struct ctx *x)
{
	const struct as_params *p = x->p;

	x->tol = fmax(p->min_gain, TOL_FLOOR);
	for (unsigned d = 0; d < x->nb_dirs; d++) {
		const struct as_dir *dir = &x->dirs[d];

		x->load[d] = isfinite(dir->load) && dir->load > 0 ? dir->load : 0;
		x->now[d] = -1;
		x->node_has_worker[d] = false;
		for (unsigned c = 0; c < x->nb_cpus; c++) {
			if (x->cpus[c].cpu == dir->cpu && x->now[d] < 0)
				x->now[d] = (int)c;
			if (x->cpus[c].numa == dir->numa)
				x->node_has_worker[d] = true;
		}
		x->held[d] = x->now[d] >= 0 &&
			     ((dir->pinned && p->keep_pins) || dir->since_move < p->hold);
		x->must_move[d] = x->now[d] < 0 ||
				  (!x->held[d] && !allowed(x, d, (unsigned)x->now[d]));
	}
}

int as_assign(const struct as_cpu *cpus, unsigned nb_cpus, const struct as_dir *dirs,
	      unsigned nb_dirs, const struct as_params *params, struct as_result *out)
{
	struct ctx x = { .cpus = cpus, .nb_cpus = nb_cpus, .dirs = dirs, .nb_dirs = nb_dirs,
			 .p = params };
	struct plan base = { { 0 }, { 0 } }, from_now, fresh = { { 0 }, { 0 } };
	const struct plan *best, *chosen;
	bool movable[AS_MAX_DIRS];
	double peak_fresh, peak_from_now;

	memset(out, 0, sizeof(*out));
	for (unsigned d = 0; d < nb_dirs && d < AS_MAX_DIRS; d++)
		out->cpu[d] = dirs[d].cpu;
	if (nb_cpus == 0 || nb_cpus > AS_MAX_CPUS || nb_dirs > AS_MAX_DIRS)
		return -1;
	setup(&x);

	/* base: as now, but with what must move placed; the gain of balancing
	 * is measured against it. fresh: only the held directions, so far. */
	for (unsigned d = 0; d < nb_dirs; d++) {
		if (x.now[d] >= 0)
			out->before[x.now[d]] += x.load[d];
		base.at[d] = -1;
		fresh.at[d] = -1;
		movable[d] = !x.held[d];
		if (!x.must_move[d])
			plan_put(&base, &x, d, x.now[d]);
		if (x.held[d])
			plan_put(&fresh, &x, d, x.now[d]);
	}
	place_greedy(&x, &base, x.must_move);

	from_now = base;
	improve(&x, &from_now);
	place_greedy(&x, &fresh, movable);
	improve(&x, &fresh);
	best = compare(&x, &fresh, &from_now, &peak_fresh, &peak_from_now) < 0 ?
	       &fresh : &from_now;

	chosen = &base;
	if (compare(&x, best, &base, &out->peak_best, &out->peak_now) >= 0)
		out->peak_best = out->peak_now;
	else if (out->peak_now - out->peak_best > params->sensitivity * out->peak_now)
		chosen = best;
	out->rebalanced = chosen == best;

	memcpy(out->after, chosen->load, nb_cpus * sizeof(double));
	for (unsigned d = 0; d < nb_dirs; d++) {
		out->cpu[d] = cpus[chosen->at[d]].cpu;
		if (chosen->at[d] == x.now[d])
			continue;
		out->nb_moves++;
		out->why[d] = x.now[d] < 0 ? AS_NOT_WORKER :
			      x.must_move[d] ? AS_NUMA : AS_BALANCE;
	}
	return 0;
}
