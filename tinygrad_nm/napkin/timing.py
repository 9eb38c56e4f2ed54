"""The clock every calibration and drift probe reads: the fastest of several timings, with
garbage collection off (a collection inside one timing is the process's state, not the machine's speed)."""
import gc
import math
import time


def best_time(fn, number=1, repeat=5):
    """The fastest of `repeat` timings of `number` calls, per call (garbage collection off)."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        best = math.inf
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best = min(best, (time.perf_counter() - start) / number)
        return best
    finally:
        if gc_was:
            gc.enable()


def best_times_alternated(fns, number=1, repeat=5):
    """best_time of each of `fns`, their timings taken in turn (one of each, `repeat` times), so
    that every minimum comes from the same stretches of time: on a shared machine, one measured
    after the other can land in a quieter or busier stretch (a difference of two came out 0 to 10
    us so)."""
    best = [math.inf] * len(fns)
    for _ in range(repeat):
        best = [min(b, best_time(fn, number, 1)) for b, fn in zip(best, fns)]
    return best
