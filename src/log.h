/* log: the daemon's log, syslog levels 0 (emerg) .. 7 (debug).
 *
 *   vlog_open(ident, level, use_syslog)  where log lines go and how many
 *   VLOG_ERR(fmt, ...) .. VLOG_DEBUG(fmt, ...)
 *
 * In the foreground lines go to stderr with a timestamp; as a service they
 * go to syslog (and so to the journal). Never call from a worker's hot path.
 */
#ifndef VFWD_LOG_H
#define VFWD_LOG_H

#include <stdbool.h>
#include <syslog.h>

void vlog_open(const char *ident, int level, bool use_syslog);
void vlog_set_level(int level);
int vlog_level(void);
void vlog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define VLOG_CRIT(...) vlog(LOG_CRIT, __VA_ARGS__)
#define VLOG_ERR(...) vlog(LOG_ERR, __VA_ARGS__)
#define VLOG_WARN(...) vlog(LOG_WARNING, __VA_ARGS__)
#define VLOG_NOTICE(...) vlog(LOG_NOTICE, __VA_ARGS__)
#define VLOG_INFO(...) vlog(LOG_INFO, __VA_ARGS__)
#define VLOG_DEBUG(...) vlog(LOG_DEBUG, __VA_ARGS__)

#endif
