"""Random streams: NumPy's ``SeedSequence -> PCG64 -> Generator``, bit for bit, as Numba kernels.

:func:`standard_normals`, :func:`read_noise_fill` and :func:`device_draws`
produce exactly the numbers of NumPy's ``Generator(PCG64(SeedSequence(entropy)))``
(``standard_normal`` and ``random``), bit for bit, but without the GIL and
without building three Python objects per image: seeding 359 read-noise
streams per chip instance in Python held the GIL for most of a yield study and
kept its threads from scaling. The algorithms are NumPy's (``bit_generator.pyx``
SeedSequence, ``pcg64.h`` PCG64 XSL-RR 128/64, ``distributions.c`` ziggurat with
the same tables); the tests compare them with NumPy on millions of draws, tails
included. The RRAM device model (:mod:`hwsim.rram.device`) and the RRAM engine
(:mod:`hwsim.rram.engine`) draw from them.

Slow twins: :mod:`hwsim.reference.random` (NumPy's own generator).
"""

from __future__ import annotations

import numpy as np

# NumPy's ziggurat tables for float64 normals (256 layers), as Numba's own Generator support uses
# them. The module is private to Numba: if a release drops it, the stream kernels below fall back
# to their NumPy twins (the same numbers, but holding the GIL), see the end of this file.
try:
    from numba.np.random._constants import fi_double, ki_double, wi_double, ziggurat_nor_inv_r, ziggurat_nor_r
except ImportError:  # pragma: no cover - depends on the installed Numba
    GIL_FREE_STREAMS = False
else:
    GIL_FREE_STREAMS = True

from hwsim.kernels.decorators import jit

__all__ = ["standard_normals", "read_noise_fill", "device_draws", "GIL_FREE_STREAMS"]

# ---------------------------------------------------------------------------------------------------------
# Random streams: NumPy's SeedSequence -> PCG64 -> Generator, bit for bit.
#
# Every constant is a np.uint64: Numba types uint64 (op) int64 as float64, which would lose bits.
# ---------------------------------------------------------------------------------------------------------

_M32 = np.uint64(0xFFFFFFFF)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_S11 = np.uint64(11)
_S16 = np.uint64(16)
_S32 = np.uint64(32)
_S58 = np.uint64(58)
_S63 = np.uint64(63)
_S64 = np.uint64(64)
# SeedSequence hash constants (numpy/random/bit_generator.pyx)
_INIT_A = np.uint64(0x43B0D7E5)
_MULT_A = np.uint64(0x931E8875)
_INIT_B = np.uint64(0x8B51F9DD)
_MULT_B = np.uint64(0x58F38DED)
_MIX_MULT_L = np.uint64(0xCA01F9DD)
_MIX_MULT_R = np.uint64(0x4973F715)
_POOL_SIZE = 4
# PCG64 multiplier 0x2360ED051FC65DA4_4385DF649FCCF645 (pcg64.h, PCG_DEFAULT_MULTIPLIER_128)
_MUL_HI = np.uint64(0x2360ED051FC65DA4)
_MUL_LO = np.uint64(0x4385DF649FCCF645)
_MANTISSA_52 = np.uint64(0x000FFFFFFFFFFFFF)
_BYTE = np.uint64(0xFF)
if GIL_FREE_STREAMS:
    _KI = ki_double.astype(np.uint64)
    _WI = wi_double.astype(np.float64)
    _FI = fi_double.astype(np.float64)
    _NOR_R = float(ziggurat_nor_r)
    _NOR_INV_R = float(ziggurat_nor_inv_r)
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2^-53
_TAG_READ_NOISE = 1  # SeedSequence([seed, 1, image]) (chip-spec §7.3)


@jit
def _hashmix(value, hash_const):
    # uint32 arithmetic carried in uint64 and masked: a product of two 32-bit words fits in 64 bits
    value = value ^ hash_const[0]
    hash_const[0] = (hash_const[0] * _MULT_A) & _M32
    value = (value * hash_const[0]) & _M32
    return value ^ (value >> _S16)


@jit
def _mix(x, y):
    # the uint64 difference wraps mod 2^64; its low 32 bits are the uint32 difference
    r = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _M32
    return r ^ (r >> _S16)


@jit
def _seed_pcg64(entropy, n_entropy):
    """PCG64(SeedSequence(entropy[:n_entropy])): returns (state_hi, state_lo, inc_hi, inc_lo)."""
    pool = np.empty(_POOL_SIZE, np.uint64)
    hc = np.empty(1, np.uint64)
    hc[0] = _INIT_A
    for i in range(_POOL_SIZE):
        pool[i] = _hashmix(entropy[i] if i < n_entropy else _U0, hc)
    for i_src in range(_POOL_SIZE):
        for i_dst in range(_POOL_SIZE):
            if i_src != i_dst:
                pool[i_dst] = _mix(pool[i_dst], _hashmix(pool[i_src], hc))
    for i_src in range(_POOL_SIZE, n_entropy):
        for i_dst in range(_POOL_SIZE):
            pool[i_dst] = _mix(pool[i_dst], _hashmix(entropy[i_src], hc))
    # generate_state(4, uint64): 8 uint32 words cycling over the pool, paired little-endian
    words = np.empty(4, np.uint64)
    h = _INIT_B
    for i in range(8):
        d = pool[i % _POOL_SIZE] ^ h
        h = (h * _MULT_B) & _M32
        d = (d * h) & _M32
        d = d ^ (d >> _S16)
        if i % 2 == 0:
            words[i // 2] = d
        else:
            words[i // 2] = words[i // 2] | (d << _S32)
    # pcg64_set_seed: initstate = (words[0], words[1]), initseq = (words[2], words[3]) as (high, low);
    # state = 0, inc = 2 initseq + 1, step, state += initstate, step
    i_hi = (words[2] << _U1) | (words[3] >> _S63)
    i_lo = (words[3] << _U1) | _U1
    s_hi, s_lo = _pcg64_step(_U0, _U0, i_hi, i_lo)
    lo = s_lo + words[1]
    s_hi = s_hi + words[0] + (_U1 if lo < s_lo else _U0)
    s_hi, s_lo = _pcg64_step(s_hi, lo, i_hi, i_lo)
    return s_hi, s_lo, i_hi, i_lo


@jit
def _mulhi64(a, b):
    # high 64 bits of the 128-bit product, from 32-bit halves (Numba has no 128-bit integers)
    a_lo, a_hi = a & _M32, a >> _S32
    b_lo, b_hi = b & _M32, b >> _S32
    p0 = a_lo * b_lo
    p1 = a_lo * b_hi
    p2 = a_hi * b_lo
    mid = (p0 >> _S32) + (p1 & _M32) + (p2 & _M32)
    return a_hi * b_hi + (p1 >> _S32) + (p2 >> _S32) + (mid >> _S32)


@jit
def _pcg64_step(s_hi, s_lo, i_hi, i_lo):
    # state = state * MULT + inc (mod 2^128); the state travels as two scalars so it stays in registers
    hi = _mulhi64(s_lo, _MUL_LO) + s_lo * _MUL_HI + s_hi * _MUL_LO
    lo = s_lo * _MUL_LO
    new_lo = lo + i_lo
    return hi + i_hi + (_U1 if new_lo < lo else _U0), new_lo


@jit
def _next_uint64(s_hi, s_lo, i_hi, i_lo):
    # XSL-RR output of the advanced state: rotr64(high ^ low, state >> 122); returns (value, s_hi, s_lo)
    s_hi, s_lo = _pcg64_step(s_hi, s_lo, i_hi, i_lo)
    v = s_hi ^ s_lo
    rot = s_hi >> _S58
    return (v >> rot) | (v << ((_S64 - rot) & _S63)), s_hi, s_lo


@jit
def _next_double(s_hi, s_lo, i_hi, i_lo):
    r, s_hi, s_lo = _next_uint64(s_hi, s_lo, i_hi, i_lo)
    return np.float64(r >> _S11) * _TO_DOUBLE, s_hi, s_lo


@jit
def _standard_normal(s_hi, s_lo, i_hi, i_lo):
    # NumPy's random_standard_normal (distributions.c), statement for statement; returns (x, s_hi, s_lo)
    while True:
        r, s_hi, s_lo = _next_uint64(s_hi, s_lo, i_hi, i_lo)
        idx = np.intp(r & _BYTE)
        r = r >> np.uint64(8)
        sign = r & _U1
        rabs = (r >> _U1) & _MANTISSA_52
        x = np.float64(rabs) * _WI[idx]
        if sign != _U0:
            x = -x
        if rabs < _KI[idx]:
            return x, s_hi, s_lo  # 99.3 % of the draws
        if idx == 0:
            # the tail beyond r; 1 - U avoids log(0)
            while True:
                u1, s_hi, s_lo = _next_double(s_hi, s_lo, i_hi, i_lo)
                xx = -_NOR_INV_R * np.log1p(-u1)
                u2, s_hi, s_lo = _next_double(s_hi, s_lo, i_hi, i_lo)
                yy = -np.log1p(-u2)
                if yy + yy > xx * xx:
                    if ((rabs >> np.uint64(8)) & _U1) != _U0:
                        return -(_NOR_R + xx), s_hi, s_lo
                    return _NOR_R + xx, s_hi, s_lo
        else:
            u1, s_hi, s_lo = _next_double(s_hi, s_lo, i_hi, i_lo)
            if (_FI[idx - 1] - _FI[idx]) * u1 + _FI[idx] < np.exp(-0.5 * x * x):
                return x, s_hi, s_lo


@jit
def _fill_normals(s_hi, s_lo, i_hi, i_lo, flat):
    for i in range(flat.shape[0]):
        flat[i], s_hi, s_lo = _standard_normal(s_hi, s_lo, i_hi, i_lo)
    return s_hi, s_lo


@jit
def standard_normals(entropy, out):
    """``out[:] = Generator(PCG64(SeedSequence(entropy))).standard_normal(out.size)``.

    ``entropy`` is the uint32 word array NumPy assembles from the seed (each
    non-negative integer as its 32-bit words, least significant first; 0 as one word).
    """
    e = np.empty(entropy.shape[0], np.uint64)
    for i in range(entropy.shape[0]):
        e[i] = np.uint64(entropy[i])
    s_hi, s_lo, i_hi, i_lo = _seed_pcg64(e, e.shape[0])
    _fill_normals(s_hi, s_lo, i_hi, i_lo, out.reshape(-1))


@jit
def read_noise_fill(seed_words, first_index, out):
    """Read-noise normals of images ``first_index .. first_index + B - 1`` of one chip instance.

    ``out`` is ``(B, T, n_cores, neurons)`` (any C-contiguous shape with B first);
    ``out[b]`` gets ``standard_normal`` of ``SeedSequence([seed, 1, first_index + b])``
    (chip-spec §7.3). ``seed_words`` are the seed's uint32 words.
    """
    n_seed = seed_words.shape[0]
    e = np.empty(n_seed + 3, np.uint64)
    for i in range(n_seed):
        e[i] = np.uint64(seed_words[i])
    e[n_seed] = np.uint64(_TAG_READ_NOISE)
    for b in range(out.shape[0]):
        # the image index as NumPy coerces an int: 32-bit words, least significant first, 0 -> [0]
        index = np.uint64(first_index + b)
        n = n_seed + 1
        e[n] = index & _M32
        n += 1
        index = index >> _S32
        while index != _U0:
            e[n] = index & _M32
            n += 1
            index = index >> _S32
        s_hi, s_lo, i_hi, i_lo = _seed_pcg64(e, n)
        _fill_normals(s_hi, s_lo, i_hi, i_lo, out[b].reshape(-1))


@jit
def device_draws(entropy, axons, neurons, n_axons, n_neurons, z, u):
    """The device draws of one crossbar, kept on its used corner (docs/rram.md §2).

    One stream ``SeedSequence(entropy)`` draws ``standard_normal((axons, neurons, 2))``
    and then ``random((axons, neurons, 2))``; ``z`` and ``u`` (``(n_axons, n_neurons, 2)``)
    get their ``[:n_axons, :n_neurons]`` corners. Every normal must be drawn
    (the ziggurat uses a variable number of words), but the uniforms stop after
    the last row the corner needs (one word each).
    """
    e = np.empty(entropy.shape[0], np.uint64)
    for i in range(entropy.shape[0]):
        e[i] = np.uint64(entropy[i])
    s_hi, s_lo, i_hi, i_lo = _seed_pcg64(e, e.shape[0])
    for a in range(axons):
        for j in range(neurons):
            for p in range(2):
                x, s_hi, s_lo = _standard_normal(s_hi, s_lo, i_hi, i_lo)
                if a < n_axons and j < n_neurons:
                    z[a, j, p] = x
    for a in range(n_axons):
        for j in range(neurons):
            for p in range(2):
                x, s_hi, s_lo = _next_double(s_hi, s_lo, i_hi, i_lo)
                if j < n_neurons:
                    u[a, j, p] = x


if not GIL_FREE_STREAMS:  # pragma: no cover - depends on the installed Numba
    from hwsim.reference.random import device_draws, read_noise_fill, standard_normals  # noqa: F811
