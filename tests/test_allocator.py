import subprocess
import sys

import pytest

# A worker thread allocating and freeing 100 MB tensors, as Griffin-Lim does for a long clip:
# prints the minor page faults it cost.
ALLOCATE = """
import resource, sys, threading, torch
from engine.allocator import reuse_freed_memory
print(reuse_freed_memory() if sys.argv[1] == "tuned" else "plain")
def allocate():
    for _ in range(16):
        torch.ones(25_000_000).sum()
warm = threading.Thread(target=allocate)  # the first allocation may fault either way
warm.start()
warm.join()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
thread = threading.Thread(target=allocate)
thread.start()
thread.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> tuple[str, int]:
    lines = subprocess.run([sys.executable, "-c", ALLOCATE, mode], capture_output=True, text=True,
                           check=True).stdout.split()
    return lines[0], int(lines[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc tuning")
def test_large_tensors_reuse_freed_memory_instead_of_faulting_in_fresh_pages():
    label, plain = page_faults("plain")
    done, tuned = page_faults("tuned")
    assert done == "True"
    assert plain > 16 * 20_000  # each 100 MB block zero-filled anew: ~24 k pages a time
    assert tuned < plain / 4  # at most a block or two fresh, the rest reused
