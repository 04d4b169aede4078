#!/usr/bin/env python3
"""How late a SCHED_BATCH thread wakes on a core where a CPU hog runs under a given policy.

    taskset -c 0 python3 wake_latency.py HOG_POLICY [SECONDS]

HOG_POLICY: none, other, nice19 (SCHED_OTHER at nice 19), batch or idle. A hog process (a busy
loop under HOG_POLICY, nice 0 unless nice19) and the prober (under SCHED_BATCH, like bunkerd's
reactor) share the core the script is pinned to; the prober sleeps 1 ms at a time and records how
much later than asked it ran again. Prints the oversleep's p50, p99 and max in microseconds. Linux
only.
"""
import os, sys, time
policy = {"none": None, "other": os.SCHED_OTHER, "nice19": os.SCHED_OTHER, "batch": os.SCHED_BATCH,
          "idle": os.SCHED_IDLE}[sys.argv[1]]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
hog = None
if policy is not None:
    hog = os.fork()
    if hog == 0:
        os.sched_setscheduler(0, policy, os.sched_param(0))
        if sys.argv[1] == "nice19":
            os.nice(19)
        end = time.monotonic() + seconds + 1
        while time.monotonic() < end:
            pass
        os._exit(0)
os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
late = []
end = time.monotonic() + seconds
while time.monotonic() < end:
    t = time.monotonic_ns()
    time.sleep(0.001)
    late.append((time.monotonic_ns() - t) / 1e3 - 1000)
if hog:
    os.kill(hog, 9)
    os.waitpid(hog, 0)
late.sort()
print(f"hog {sys.argv[1]:6s}: {len(late)} wake-ups, oversleep p50 {late[len(late)//2]:.0f} µs, "
      f"p99 {late[int(len(late)*0.99)]:.0f} µs, max {late[-1]:.0f} µs")
