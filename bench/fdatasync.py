#!/usr/bin/env python3
"""CPU and wall time of one fdatasync after a small write, appending to a
file (each sync also records the new size) against overwriting a file
zeroed ahead (what the journal does since --journal-prealloc-bytes).

Usage: bench/fdatasync.py [DIR] [WRITES] [PAIRS]
DIR defaults to target/fdatasync-bench (the build's disk); its files are
removed afterwards. Linux only (os.fdatasync)."""
import os
import shutil
import sys
import time

DIR = sys.argv[1] if len(sys.argv) > 1 else "target/fdatasync-bench"
WRITES = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
PAIRS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
RECORD = b"x" * 700


def run(mode):
    path = os.path.join(DIR, f"{mode}.log")
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY)
    try:
        if mode == "in-place":
            os.write(fd, b"\0" * (WRITES * len(RECORD) + 4096))
            os.fdatasync(fd)
            os.lseek(fd, 0, os.SEEK_SET)
        t0, w0 = os.times(), time.monotonic()
        for _ in range(WRITES):
            os.write(fd, RECORD)
            os.fdatasync(fd)
        t1, w1 = os.times(), time.monotonic()
    finally:
        os.close(fd)
    cpu = (t1.user - t0.user + t1.system - t0.system) / WRITES * 1e6
    print(f"{mode:<9} cpu/fdatasync {cpu:6.1f} us   wall/fdatasync {(w1 - w0) / WRITES * 1e6:6.1f} us")


os.makedirs(DIR, exist_ok=True)
try:
    for _ in range(PAIRS):
        run("append")
        run("in-place")
finally:
    shutil.rmtree(DIR, ignore_errors=True)
