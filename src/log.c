#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <pthread.h>

static int log_threshold = LOG_INFO;
static bool log_to_syslog;
/* Under systemd (stderr is the journal) a "<N>" prefix gives each line its
 * priority; the journal adds its own timestamps. */
static bool log_to_journal;
/* One line per call even when the vhost thread, the control services and
 * the main thread log at the same time. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	"EMERG", "ALERT", "CRIT", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG",
};

void vlog_open(const char *ident, int level, bool use_syslog)
{
	log_threshold = level;
	log_to_syslog = use_syslog;
	log_to_journal = !use_syslog && getenv("JOURNAL_STREAM") != NULL;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void vlog_set_level(int level)
{
	log_threshold = level;
}

int vlog_level(void)
{
	return log_threshold;
}

void vlog(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	if (log_to_syslog) {
		vsyslog(level, fmt, ap);
	} else if (log_to_journal) {
		pthread_mutex_lock(&log_lock);
		fprintf(stderr, "<%d>", level);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		pthread_mutex_unlock(&log_lock);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		pthread_mutex_lock(&log_lock);
		fprintf(stderr, "%s.%03ld %s: ", stamp, ts.tv_nsec / 1000000,
			level_names[level & 7]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		pthread_mutex_unlock(&log_lock);
	}
	va_end(ap);
}
