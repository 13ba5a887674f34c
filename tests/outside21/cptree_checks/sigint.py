#!/usr/bin/env python3
"""sigint.py CPTREE SRC DST DELAY: starts cptree with SIGINT at its default, sends SIGINT after DELAY s; prints rc and seconds to exit, or HANG."""
import subprocess, sys, time, signal
p = subprocess.Popen(sys.argv[1:4], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
time.sleep(float(sys.argv[4])); t0 = time.time(); p.send_signal(signal.SIGINT)
try:
    out, err = p.communicate(timeout=10); print('rc=%d exit_after=%.3fs' % (p.returncode, time.time() - t0), err[:200])
except subprocess.TimeoutExpired:
    print('HANG'); p.kill(); sys.exit(1)
