#!/bin/sh
# Prints DPDK's static link flags, one per line, with the --whole-archive
# section folded into a single -Wl, argument: meson reorders and dedupes
# separate -l flags, which would move the drivers out of the whole-archive
# group and drop their constructors (no PMD would register). The -L stays a
# plain flag in front: hidden inside -Wl, it would come after the compiler's
# default paths, and Debian's own librte_*.a (32 ports) would win.
pkg-config --static --libs libdpdk | tr ' ' '\n' | awk '
  /^-L/ { print; next }
  /^-Wl,--whole-archive$/   { inwa = 1; wa = "-Wl,--whole-archive"; next }
  /^-Wl,--no-whole-archive$/ { print wa ",--no-whole-archive"; inwa = 0; next }
  inwa && NF { sub(/^-Wl,/, ""); wa = wa "," $0; next }
  NF { print }'
