"""Pipelining: decode the next frames while the model runs on this one, and keep the two on
their own CPUs when the machine is otherwise idle (docs/design.md, docs/benchmark.md).

Results never depend on it: the frames reach the model in the same order either way.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar


@dataclass(frozen=True)
class RunSettings:
    """How an extraction runs; never what it measures (a trace is the same under any of these).

    Attributes
    ----------
    decode_threads : int
        Video decoder threads (0: FFmpeg decides; 1 in batch workers, which run one per core).
    prefetch_frames : int
        Frames decoded ahead in a background thread while the model runs (0: strictly serial,
        as in batch workers, where every core already runs its own recording).
    pin_threads : bool
        With prefetching on an otherwise idle machine with two or more CPUs, run the model on
        one CPU and the decoder on another for the duration of the extraction (about 5-10 %
        faster: no cache thrashing by threads migrating between cores); never when other
        tasks are running (:func:`cpus_to_pin`). The calling thread's CPU affinity is restored
        afterwards.
    """

    decode_threads: int = 0
    prefetch_frames: int = 2
    pin_threads: bool = True


T = TypeVar("T")
_DONE = object()


_PINNING = threading.Lock()


def _other_runnable_tasks(samples: int = 3, interval_s: float = 0.02) -> int | None:
    """Runnable tasks on the machine besides the caller (Linux ``/proc/loadavg``): the fewest
    of a few looks, so that threads finishing a moment's work do not count."""
    counts = []
    for k in range(samples):
        if k:
            time.sleep(interval_s)
        try:
            with open("/proc/loadavg") as handle:
                counts.append(int(handle.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return None
    return min(counts)


def _current_cpu() -> int | None:
    """The CPU the calling thread runs on (Linux ``/proc/thread-self/stat``), or None."""
    try:
        with open("/proc/thread-self/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def cpus_to_pin(enabled: bool = True):
    """Yield (model CPU, decoder CPU) when pinning is safe, else (None, None).

    Safe means: Linux, at least two CPUs allowed, no other pinned extraction in this process,
    and no other runnable task on the machine at this moment - so that several extractions
    (a user's own process or thread pool) are never crowded onto the same CPUs; they are left
    to the scheduler instead. The model gets the CPU the caller is running on, the decoder the
    next allowed one.
    """
    if not enabled or not hasattr(os, "sched_getaffinity") or not _PINNING.acquire(blocking=False):
        yield None, None
        return
    try:
        allowed = sorted(os.sched_getaffinity(0))
        here = _current_cpu()
        if len(allowed) < 2 or _other_runnable_tasks() != 0 or here not in allowed:
            yield None, None
        else:
            yield here, allowed[(allowed.index(here) + 1) % len(allowed)]
    finally:
        _PINNING.release()


@contextlib.contextmanager
def pinned_to(cpu: int | None):
    """Run the calling thread - and the threads it starts meanwhile - on one CPU, then restore.

    Only the calling thread's own affinity changes (Linux ``sched_setaffinity`` on thread 0);
    ``None``, or a system that refuses, leaves everything as it was.
    """
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    saved = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        yield
        return
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def prefetch(items: Iterable[T], *, depth: int = 2, cpu: int | None = None) -> Iterator[T]:
    """Yield ``items`` while a background thread already produces the next ``depth`` of them.

    Decoding and colour conversion (FFmpeg, OpenCV) release the GIL, so on a multi-core machine
    the next frame is decoded while the landmark model works on this one. Memory stays bounded
    (at most ``depth`` frames waiting). Exceptions in the producer are re-raised here; leaving
    the loop early stops the producer. ``cpu``: run the producer (and the decoder threads it
    starts) on that CPU only (see :func:`pinned_to`).
    """
    if depth <= 0:
        yield from items
        return
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            with pinned_to(cpu):
                _produce()
        except BaseException as exc:  # handed to the consumer
            buffer.put(exc)

    def _produce() -> None:
        for item in items:
            while not stop.is_set():
                try:
                    buffer.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        buffer.put(_DONE)

    worker = threading.Thread(target=produce, name="spasmcv-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
