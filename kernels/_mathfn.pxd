# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""exp, sigmoid and tanh written with + - * / and a few bit operations only.

Why not libm: a call to exp() or tanh() inside a loop stops the compiler from
vectorising the loop, and a scalar libm tanhf is several times slower than
NumPy's SIMD np.tanh. These are the Cephes library's formulas (range reduction
plus a polynomial or rational approximation), written so that each loop over
an array compiles to vector instructions: no branches (both sides computed,
then selected), no calls; float32 tanh is Eigen's rational approximation. Accuracy
(measured against float64 NumPy): float32 within 4e-7 relative, float64 within
~5e-16, over the whole range; NaN in gives NaN out, +-inf the limits.
"""
from libc.math cimport floor, floorf, fabs, fabsf, copysign, copysignf
from libc.stdint cimport uint32_t, uint64_t

from _matmul cimport floating

# Reinterpret an integer's bits as a float: builds 2**n without calling ldexp.
cdef union _bits32:
    float f
    uint32_t u

cdef union _bits64:
    double f
    uint64_t u


cdef inline float _exp_f32(float x) noexcept nogil:
    """e**x for float32 (Cephes expf): x = n ln2 + r, |r| <= ln2/2, e**r by a degree-6 polynomial."""
    cdef float LOG2E = 1.44269504088896341, C1 = 0.693359375, C2 = -2.12194440e-4
    cdef float LO = -104.0, HI = 89.0     # below/above these exp underflows to 0 / overflows to inf
    cdef float fx, r, p
    cdef int n, n1
    cdef _bits32 s1, s2
    x = LO if x < LO else x               # NaN compares false and passes through
    x = HI if x > HI else x
    fx = floorf(x * LOG2E + <float>0.5)
    r = x - fx * C1 - fx * C2             # ln2 in two pieces: x - n*ln2 without cancellation error
    p = <float>1.9875691500e-4
    p = p * r + <float>1.3981999507e-3
    p = p * r + <float>8.3334519073e-3
    p = p * r + <float>4.1665795894e-2
    p = p * r + <float>1.6666665459e-1
    p = p * r + <float>5.0000001201e-1
    p = p * r * r + r + <float>1
    # 2**n as two normal factors, so results in the subnormal range come out right (n >= -150)
    n = <int>(fx if fx > -151 else -151)  # clamped: converting NaN to int would be undefined
    n1 = n // 2
    s1.u = <uint32_t>(n1 + 127) << 23
    s2.u = <uint32_t>(n - n1 + 127) << 23
    return p * s1.f * s2.f


cdef inline double _exp_f64(double x) noexcept nogil:
    """e**x for float64 (Cephes exp): x = n ln2 + r, e**r = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2))."""
    cdef double LOG2E = 1.4426950408889634073599, C1 = 6.93145751953125e-1, C2 = 1.42860682030941723212e-6
    cdef double LO = -746.0, HI = 710.0
    cdef double fx, r, rr, px, qx
    cdef int n, n1
    cdef _bits64 s1, s2
    x = LO if x < LO else x
    x = HI if x > HI else x
    fx = floor(x * LOG2E + 0.5)
    r = x - fx * C1 - fx * C2
    rr = r * r
    px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1)
    qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
          + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0
    r = 1 + 2 * px / (qx - px)           # all double: the literals need no cast
    n = <int>(fx if fx > -1080 else -1080)
    n1 = n // 2
    s1.u = <uint64_t>(n1 + 1023) << 52
    s2.u = <uint64_t>(n - n1 + 1023) << 52
    return r * s1.f * s2.f


cdef inline floating fast_exp(floating x) noexcept nogil:
    if floating is float:
        return _exp_f32(x)
    else:
        return _exp_f64(x)


cdef inline floating fast_sigmoid(floating x) noexcept nogil:
    """1 / (1 + e**-x) from e = e**-|x| <= 1, which cannot overflow: 1/(1+e) or e/(1+e)."""
    cdef floating e
    if floating is float:
        e = _exp_f32(-fabsf(x))
    else:
        e = _exp_f64(-fabs(x))
    cdef floating one = 1                         # a typed 1: a bare literal would make it double math
    cdef floating s = one / (one + e), es = e * s # both sides computed: a select, not a branch
    return s if x >= 0 else es                    # NaN takes the second side and stays NaN


cdef inline float _tanh_f32(float x) noexcept nogil:
    """Eigen's float tanh: x P(x^2) / Q(x^2), a degree 13/6 rational fit on [-7.9, 7.9], x itself
    below 4e-4, clamped beyond (tanh(7.9) is 1 - 3e-7). No exp: ~half the work of the exp-based
    formula, within 3.5e-7 relative (measured against float64 np.tanh). Near saturation that is
    ~5 float32 steps below 1 where NumPy is within one, so a gradient 1 - y*y of ~1e-6 there
    comes out off by up to 7e-7."""
    cdef float CLAMP = 7.90531110763549805
    cdef float ax = fabsf(x), z, p, q
    cdef float c = CLAMP if x > CLAMP else x
    c = -CLAMP if c < -CLAMP else c      # NaN passes both clamps
    z = c * c
    p = <float>-2.76076847742355e-16
    p = p * z + <float>2.00018790482477e-13
    p = p * z + <float>-8.60467152213735e-11
    p = p * z + <float>5.12229709037114e-08
    p = p * z + <float>1.48572235717979e-05
    p = p * z + <float>6.37261928875436e-04
    p = p * z + <float>4.89352455891786e-03
    p = p * c
    q = <float>1.19825839466702e-06
    q = q * z + <float>1.18534705686654e-04
    q = q * z + <float>2.26843463243900e-03
    q = q * z + <float>4.89352518554385e-03
    p = p / q
    return x if ax < <float>0.0004 else p


cdef inline double _tanh_f64(double x) noexcept nogil:
    """Cephes tanh: x + x^3 P(x^2) / Q(x^2) for |x| < 0.625, (1 - e) / (1 + e), e = e**-2|x|, beyond."""
    cdef double ax = fabs(x), z = x * x, e, big, small
    e = _exp_f64(-(ax + ax))
    big = copysign((1 - e) / (1 + e), x)
    small = x + x * z * (((-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z
                          - 1.61468768441708447952e3)
                         / (((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z
                            + 4.84406305325125486048e3))
    return big if ax >= 0.625 else small


cdef inline floating fast_tanh(floating x) noexcept nogil:
    if floating is float:
        return _tanh_f32(x)
    else:
        return _tanh_f64(x)
