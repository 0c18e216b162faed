"""`python -m benchmarks.rss OUT CMD...`: run CMD, pass its stdout through, write its peak RSS (KiB) to OUT.

A small launcher, so the measured process is forked from a small one: a child forked straight from
the benchmark (torch loaded) would report the benchmark's own memory as its peak.
"""

import os
import subprocess
import sys

out, cmd = sys.argv[1], sys.argv[2:]
proc = subprocess.Popen(cmd)
_, status, usage = os.wait4(proc.pid, 0)
with open(out, "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
