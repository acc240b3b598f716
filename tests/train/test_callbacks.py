"""The Trainer callbacks: freed heap memory really goes back to the OS."""
from __future__ import annotations

import subprocess
import sys

from core.paths import REPO_ROOT

# A fresh process fragments its heap as varying-length rollouts do: after one large buffer raises
# glibc's mmap threshold, 200 buffers of 256-768 KB (~100 MB, every page touched) come from the heap;
# all are freed but a small block allocated after them pins the heap's top, so it cannot shrink by
# itself. It prints its resident MB before and after the release.
FRAGMENT = """
import os
from core.train.common import release_freed_memory
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
del_me = bytearray(16 << 20); del del_me
buffers = [bytearray((256 + (i * 37) % 512) << 10) for i in range(200)]
for b in buffers:
    b[::4096] = b"x" * len(b[::4096])
pinned = bytearray(64 << 10)
del buffers
before = rss_mb()
released = release_freed_memory()
print(before, rss_mb(), released)
"""


def test_freed_heap_pages_are_returned_to_the_os():
    out = subprocess.run([sys.executable, "-c", FRAGMENT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO_ROOT), "PATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    before, after, released = out.stdout.split()
    assert released == "True"
    assert float(before) - float(after) > 50, out.stdout  # ~100 MB were freed but still resident
