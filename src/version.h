/* version: the daemon's version string, set by the build. */
#ifndef VFWD_VERSION_H
#define VFWD_VERSION_H

#ifndef VFWD_VERSION
#define VFWD_VERSION "0.0.0-unknown"
#endif

#endif
