"""The numba_cuda backend's caching allocator (backends/numba_cuda/memory.py), on a stand-in for
Numba's memory manager: what it caches, when a block comes back, the out-of-memory retry, and
when install() leaves Numba's choice alone. On a GPU, bench/gpu_session.sh times it against
Numba's own allocator."""
import gc

import pytest

driver = pytest.importorskip("numba.cuda.cudadrv.driver")
memory = pytest.importorskip("tinygrad_nm.backends.numba_cuda.memory")
if not hasattr(driver, "MemoryPointer"):  # NUMBA_ENABLE_CUDASIM=1 swaps in a driver with no memory managers
    pytest.skip("Numba's CUDA simulator has no memory managers", allow_module_level=True)


class FakeNumbaManager:
    """What the caching manager uses of Numba's: memalloc, deallocations.clear, reset."""

    def __init__(self, context=None):
        self.context, self.allocated, self.flushed, self.capacity, self.fail = context, [], 0, None, None

    def memalloc(self, size):
        if self.fail is not None:
            raise self.fail
        if self.capacity is not None and sum(self.allocated) + size > self.capacity:
            raise driver.CudaAPIError(driver.binding.CUresult.CUDA_ERROR_OUT_OF_MEMORY, f"out of memory ({size} bytes)")
        self.allocated.append(size)
        return Block(len(self.allocated) << 32, size, self)

    @property
    def deallocations(self):
        return self

    def clear(self):
        self.flushed += 1

    def reset(self):
        pass


class Block:
    def __init__(self, pointer, size, owner):
        self.device_pointer, self.size, self.owner = pointer, size, owner

    def __del__(self):  # the driver's cuMemFree, as Numba's own pointer would call it
        self.owner.allocated.remove(self.size)


@pytest.fixture
def mm():
    return memory.caching_manager(FakeNumbaManager)(context=None)


def test_block_sizes_round_requests_up_to_1_mib_to_512_bytes_and_larger_ones_to_2_mib():
    assert [memory.block_size(n) for n in (1, 512, 513, 1000, 1 << 20)] == [512, 512, 1024, 1024, 1 << 20]
    assert memory.block_size((1 << 20) + 1) == 2 << 20 and memory.block_size(5 << 20) == 6 << 20


def test_a_freed_block_serves_the_next_request_of_its_size_without_the_driver(mm):
    first = mm.memalloc(1000)
    address = first.device_pointer
    assert (mm.misses, mm.hits, mm.allocated) == (1, 0, [1024])
    del first
    gc.collect()
    assert mm.cached_bytes() == 1024
    again = mm.memalloc(1024)  # the same 1024-byte block
    assert again.device_pointer == address and again.size == 1024
    assert (mm.misses, mm.hits, mm.allocated) == (1, 1, [1024])
    other = mm.memalloc(2000)  # another size: a new block from the driver
    assert other.device_pointer != address and mm.allocated == [1024, 2048]


def test_a_block_stays_out_of_the_cache_while_a_view_of_it_lives(mm):
    base = mm.memalloc(4096)
    view = base.view(1024)  # what a[offset:] makes of a device array
    del base
    gc.collect()
    other = mm.memalloc(4096)
    assert mm.cached_bytes() == 0 and other.device_pointer != view.device_pointer
    del view
    gc.collect()
    assert mm.cached_bytes() == 4096


@pytest.mark.parametrize("code", ["enum", "int"])
def test_out_of_memory_gives_the_cached_blocks_back_then_tries_again(mm, code, monkeypatch):
    if code == "int":  # Numba's own ctypes driver says CUresult as a plain int (2), NVIDIA's bindings as an enum
        def memalloc(size):
            if sum(mm.allocated) + size > mm.capacity:
                raise driver.CudaAPIError(2, f"out of memory ({size} bytes)")
            mm.allocated.append(size)
            return Block(len(mm.allocated) << 32, size, mm)
        monkeypatch.setattr(FakeNumbaManager, "memalloc", lambda self, size: memalloc(size))
    mm.capacity = 3000
    held = mm.memalloc(2048)
    del held
    gc.collect()
    assert mm.cached_bytes() == 2048 and mm.allocated == [2048]
    big = mm.memalloc(2500)  # fits only once the cached 2048 bytes are freed
    assert big.size == 2500 and mm.allocated == [2560] and mm.flushed == 1 and mm.cached_bytes() == 0
    with pytest.raises(driver.CudaAPIError, match="out of memory"):  # nothing cached left to give back
        mm.memalloc(1024)


def test_another_driver_error_keeps_the_cache_and_is_raised_alone(mm):
    held = mm.memalloc(2048)
    del held
    gc.collect()
    mm.fail = driver.CudaAPIError(driver.binding.CUresult.CUDA_ERROR_INVALID_CONTEXT, "invalid context")
    with pytest.raises(driver.CudaAPIError, match="invalid context") as raised:
        mm.memalloc(4096)
    assert raised.value.__context__ is None and mm.cached_bytes() == 2048 and mm.flushed == 0


def test_install_leaves_a_chosen_manager_alone_and_obeys_the_setting(monkeypatch):
    from tinygrad_nm.settings import Context
    chosen = []
    monkeypatch.setattr(driver, "set_memory_manager", chosen.append)
    monkeypatch.setattr(driver, "_memory_manager", driver.NumbaCUDAMemoryManager)  # a context exists
    assert memory.install() is False and chosen == []
    monkeypatch.setattr(driver, "_memory_manager", None)  # no context yet
    with Context(cuda_pool=False):
        assert memory.install() is False and chosen == []
    from numba import config
    monkeypatch.setattr(config, "CUDA_MEMORY_MANAGER", "rmm_numba_plugin", raising=False)  # the user chose one
    assert memory.install() is False and chosen == []
    monkeypatch.setattr(config, "CUDA_MEMORY_MANAGER", "default", raising=False)
    assert memory.install() is True
    assert chosen[0].__name__ == "CachingMemoryManager" and issubclass(chosen[0], driver.NumbaCUDAMemoryManager)
    chosen[0](context=None)  # constructs over Numba's real manager


def test_an_allocator_that_cannot_be_installed_is_said_only_where_there_is_a_gpu(monkeypatch):
    """Numba's own CUDA target (numba without numba-cuda) lacks what the plugin imports: on a machine
    without a GPU that is no news (the backend is unavailable anyway); with one, a warning says so."""
    import warnings
    from tinygrad_nm.backends.numba_cuda import device

    def broken():
        raise ImportError("cannot import name 'something' from Numba's driver")
    monkeypatch.setattr(memory, "install", broken)
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)

    def no_gpu():
        raise RuntimeError("CUDA driver library cannot be found")
    monkeypatch.setattr(device.cuda, "get_current_device", no_gpu)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "no usable CUDA GPU" in device._find_reason()
    monkeypatch.setattr(device.cuda, "get_current_device", lambda: None)
    with pytest.warns(RuntimeWarning, match="caching allocator could not be installed .*cannot import name"):
        device._find_reason()
