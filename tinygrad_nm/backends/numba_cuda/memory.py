"""Device memory: a caching allocator under Numba, as PyTorch's CUDA allocator does it.

Numba's own allocator calls cuMemAlloc for every new array and queues cuMemFree for every dead
one, flushing the queue every ten frees; cuMemFree waits for the whole device, so a training
loop that makes a few small tensors per op stalls the GPU every few launches and pays two driver
calls per tensor. This allocator keeps a freed block for the next request of the same rounded
size instead: after the first step of a loop every allocation is a list pop.

It plugs in through Numba's documented External Memory Management interface (an EMM plugin:
`numba.cuda.set_memory_manager`), which must be chosen before the first CUDA context exists;
`install()` does that when the backend is first asked whether it can run, unless the user chose
another plugin (NUMBA_CUDA_MEMORY_MANAGER) or a context already exists, or TINYGRAD_NM_CUDA_POOL=0.

Reuse is safe because every kernel and copy of the backend goes to the default stream: a block
freed on the host is reused only by work queued after the work that last read it (this would not
hold with NUMBA_CUDA_PER_THREAD_DEFAULT_STREAM=1 and several threads launching). The cached blocks
go back to the driver when an allocation through this manager runs out of memory, or on
`torch.cuda.empty_cache()`; other users of the device (a module load, another library or process)
do not trigger that, so call empty_cache() before handing the GPU to them.
"""
import weakref

from tinygrad_nm.settings import settings

SMALL = 1 << 20    # requests up to 1 MiB are rounded up to a multiple of 512 bytes, as PyTorch's are ...
SMALL_STEP = 512
LARGE_STEP = 2 << 20  # ... larger ones to a multiple of 2 MiB, so that sizes a little apart share blocks.
# PyTorch instead splits its large blocks out of bigger segments; with no splitting here a request
# just over 1 MiB takes a 2 MiB block (half of it unused), one over 3 MiB a 4 MiB block, and so on.


CUDA_ERROR_OUT_OF_MEMORY = 2  # cuda.h's CUresult for a failed allocation


def block_size(nbytes):
    """The rounded size a request of nbytes is served from: requests with equal block sizes share blocks."""
    step = SMALL_STEP if nbytes <= SMALL else LARGE_STEP
    return -(-nbytes // step) * step


def caching_manager(base):
    """The EMM plugin class: Numba's memory manager `base`, whose freed blocks are cached for reuse."""
    from numba.cuda.cudadrv.driver import CudaAPIError, MemoryPointer

    class CachingMemoryManager(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.cached = {}  # block size -> [blocks from base.memalloc, free for reuse]
            self.hits = self.misses = 0

        def memalloc(self, size):
            key = block_size(size)
            free = self.cached.setdefault(key, [])
            if free:
                block = free.pop()
                self.hits += 1
            else:
                block = self._fresh(key)
                self.misses += 1
            ctx = weakref.proxy(self.context) if self.context is not None else None
            # the pointer handed out owns nothing: when Numba drops it (and every view of it), the
            # block goes back to the free list; the block itself stays owned by the cache
            return MemoryPointer(ctx, block.device_pointer, size, finalizer=lambda: free.append(block))

        def _fresh(self, nbytes):
            try:
                return super().memalloc(nbytes)
            except CudaAPIError as e:  # out of memory: hand the cached blocks back and try once more
                # the code: an int (Numba's ctypes driver) or a CUresult enum (NVIDIA's bindings)
                if getattr(e.code, "value", e.code) != CUDA_ERROR_OUT_OF_MEMORY or not any(self.cached.values()):
                    raise
            self.empty_cache()
            return super().memalloc(nbytes)

        def empty_cache(self):
            """Give every cached block back to the driver (cuMemFree), as torch.cuda.empty_cache."""
            for blocks in self.cached.values():
                blocks.clear()
            self.deallocations.clear()

        def cached_bytes(self):
            return sum(size * len(blocks) for size, blocks in self.cached.items())

        def reset(self):
            self.cached.clear()
            super().reset()

    return CachingMemoryManager


def install():
    """Make the caching allocator Numba's memory manager for contexts created from now on, if the
    user asked for no other one and none exists yet; True if it is in place."""
    from numba import config
    from numba.cuda.cudadrv import driver
    current = getattr(driver, "_memory_manager", "unknown")  # None until the first context picks one
    if current is not None:
        return getattr(current, "__name__", "") == "CachingMemoryManager"
    if not settings.cuda_pool or getattr(config, "CUDA_MEMORY_MANAGER", "default") != "default":
        return False
    driver.set_memory_manager(caching_manager(driver.NumbaCUDAMemoryManager))
    return True


def manager():
    """The current context's memory manager (a CachingMemoryManager once install() took; None in
    the simulator, which has none)."""
    from numba import cuda
    return getattr(cuda.current_context(), "memory_manager", None)


def empty_cache():
    """torch.cuda.empty_cache: the cached free blocks back to the driver (nothing in the simulator,
    or under another memory manager)."""
    mm = manager()
    if hasattr(mm, "empty_cache"):
        mm.empty_cache()
