# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Arrays read through NumPy's array struct (its C API): the checks the hot entry points of
_native.pxi make instead of typed memoryviews. A memoryview argument costs a memoryview object and
a check of the buffer's format string (~0.4 us each, several per call: bench/README.md,
"Training"); these read the type number, flags, shape and strides from the struct. Each raises
before a kernel could read or write a wrong array: wrong dtype or byte order or alignment
(TypeError), wrong rank, layout or a read-only out (ValueError). The module that cimports these
must call cnp.import_array() once (_native.pxi does)."""
cimport numpy as cnp

cdef enum:
    F32 = 0
    F64 = 1


cdef inline int array_kind(str fn, cnp.ndarray a, str name) except -1:
    """F32 or F64 for a float32 / float64 array in native byte order and aligned, else raises."""
    cdef int t = cnp.PyArray_TYPE(a)
    if (t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64) or not cnp.PyArray_ISNOTSWAPPED(a) \
            or not cnp.PyArray_ISALIGNED(a):
        raise TypeError(f"{fn}: {name} must be an aligned float32 or float64 array in native byte order, "
                        f"got {a.dtype}")
    return F32 if t == cnp.NPY_FLOAT32 else F64


cdef inline int checked(str fn, cnp.ndarray a, str name, int kind, int ndim, bint contiguous, bint writes) except -1:
    """Raises unless `a` has `kind` (F32/F64, or -1: int64), `ndim` dimensions (-1: any), is C-contiguous
    where `contiguous`, and writable where `writes`; returns 0."""
    cdef int t = cnp.PyArray_TYPE(a)
    cdef int want = cnp.NPY_INT64 if kind < 0 else cnp.NPY_FLOAT32 if kind == F32 else cnp.NPY_FLOAT64
    if t != want or not cnp.PyArray_ISNOTSWAPPED(a) or not cnp.PyArray_ISALIGNED(a):
        raise TypeError(f"{fn}: {name} must be {cnp.PyArray_DescrFromType(want)} (native byte order, aligned), "
                        f"got {a.dtype}")
    if ndim >= 0 and cnp.PyArray_NDIM(a) != ndim:
        raise ValueError(f"{fn}: {name} must have {ndim} dimensions, got shape {(<object>a).shape}")
    if contiguous and not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{fn}: {name} must be C-contiguous")
    if writes and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"{fn}: {name} is read-only")
    return 0


cdef inline void* data_of(cnp.ndarray a) noexcept nogil:
    return cnp.PyArray_DATA(a)


cdef inline int whole_strides(str fn, cnp.ndarray a, cnp.ndarray b, Py_ssize_t item) except -1:
    """Raises unless the strides of the 2-D a and b are whole elements of `item` bytes."""
    cdef cnp.npy_intp* sa = cnp.PyArray_STRIDES(a)
    cdef cnp.npy_intp* sb = cnp.PyArray_STRIDES(b)
    if sa[0] % item or sa[1] % item or sb[0] % item or sb[1] % item:
        raise ValueError(f"{fn}: the strides of a ({sa[0]}, {sa[1]}) and b ({sb[0]}, {sb[1]}) must be whole "
                         f"elements of {item} bytes (copy them first)")
    return 0
