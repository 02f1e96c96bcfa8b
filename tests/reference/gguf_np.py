"""A plain-numpy GGUF reader and ggml dequantizer, independent of moelab's C++ code.

Reads GGUF v2/v3 little-endian files: metadata of every value type (nested arrays
included), tensor infos, the alignment, and tensor data as read-only numpy views
into a memory map. Dequantizes F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
Q3_K, Q4_K, Q5_K and Q6_K to float64, written from ggml's block layouts.

Shapes follow ggml: a tensor with ne = [ne0, ne1, ...] (ne0 fastest) is returned by
`GgufFile.tensor()` as a numpy array of shape (..., ne1, ne0), i.e. the reversed
ne, which is the PyTorch shape. So a weight `y = W x` is `W @ x` directly.
"""

import mmap
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# GGUF metadata value types.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY, \
    _UINT64, _INT64, _FLOAT64 = range(13)

_SCALAR_FORMATS = {
    _UINT8: "<B", _INT8: "<b", _UINT16: "<H", _INT16: "<h", _UINT32: "<I", _INT32: "<i",
    _FLOAT32: "<f", _BOOL: "<?", _UINT64: "<Q", _INT64: "<q", _FLOAT64: "<d",
}
_SCALAR_NUMPY = {
    _UINT8: "<u1", _INT8: "<i1", _UINT16: "<u2", _INT16: "<i2", _UINT32: "<u4",
    _INT32: "<i4", _FLOAT32: "<f4", _BOOL: "<u1", _UINT64: "<u8", _INT64: "<i8",
    _FLOAT64: "<f8",
}

QK_K = 256

# ggml type id -> (name, elements per block, bytes per block).
GGML_TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    10: ("Q2_K", QK_K, 84),
    11: ("Q3_K", QK_K, 110),
    12: ("Q4_K", QK_K, 144),
    13: ("Q5_K", QK_K, 176),
    14: ("Q6_K", QK_K, 210),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    30: ("BF16", 1, 2),
}
TYPE_IDS = {name: tid for tid, (name, _, _) in GGML_TYPES.items()}


class GgufError(Exception):
    """The file is not a GGUF file we can read; the message says what and where."""


class TensorInfo:
    def __init__(self, name, ne, type_id, offset):
        self.name = name
        self.ne = tuple(ne)  # ggml order, ne[0] fastest
        self.type_id = type_id
        self.offset = offset  # relative to the data section
        self.type_name, self.block_elems, self.block_bytes = GGML_TYPES[type_id]
        self.n_elems = int(np.prod(self.ne, dtype=np.int64)) if self.ne else 1
        self.n_bytes = self.n_elems // self.block_elems * self.block_bytes

    @property
    def shape(self):
        """The numpy (PyTorch) shape: reversed ne."""
        return tuple(reversed(self.ne))

    def __repr__(self):
        return f"TensorInfo({self.name!r}, ne={self.ne}, {self.type_name}, off={self.offset})"


class _Cursor:
    """Bounds-checked little-endian reads from a byte buffer."""

    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.buf):
            raise GgufError(f"truncated file: {what} needs {n} bytes at offset {self.pos}, "
                            f"file has {len(self.buf)}")
        start = self.pos
        self.pos += n
        return start

    def scalar(self, fmt, what):
        size = struct.calcsize(fmt)
        start = self.take(size, what)
        return struct.unpack_from(fmt, self.buf, start)[0]

    def string(self, what):
        n = self.scalar("<Q", what + " length")
        start = self.take(n, what)
        raw = bytes(self.buf[start:start + n])
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            # Vocabulary pieces may be arbitrary bytes; keep them rather than fail.
            return raw.decode("utf-8", errors="surrogateescape")

    def value(self, vtype, what, depth=0):
        if vtype in _SCALAR_FORMATS:
            v = self.scalar(_SCALAR_FORMATS[vtype], what)
            return bool(v) if vtype == _BOOL else v
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY:
            if depth > 8:
                raise GgufError(f"{what}: arrays nested too deep")
            etype = self.scalar("<I", what + " element type")
            n = self.scalar("<Q", what + " element count")
            if etype in _SCALAR_NUMPY:
                size = np.dtype(_SCALAR_NUMPY[etype]).itemsize
                if n > (len(self.buf) - self.pos) // size:
                    raise GgufError(f"{what}: array of {n} elements runs past the end "
                                    f"(offset {self.pos})")
                start = self.take(n * size, what)
                arr = np.frombuffer(self.buf, dtype=_SCALAR_NUMPY[etype], count=n,
                                    offset=start)
                return [bool(x) for x in arr] if etype == _BOOL else arr.tolist()
            if etype not in (_STRING, _ARRAY):
                raise GgufError(f"{what}: unknown array element type {etype}")
            if n > len(self.buf) - self.pos:  # every element takes at least one byte
                raise GgufError(f"{what}: array of {n} elements runs past the end")
            return [self.value(etype, f"{what}[{i}]", depth + 1) for i in range(n)]
        raise GgufError(f"{what}: unknown value type {vtype} at offset {self.pos}")


class GgufFile:
    """A GGUF file opened read-only through a memory map.

    Attributes: version, metadata (dict key -> python value; arrays are lists),
    metadata_raw (dict key -> bytes of the value's type and value, to copy it),
    tensors (dict name -> TensorInfo, in file order), alignment, data_offset.
    """

    def __init__(self, path):
        self.path = str(path)
        with open(self.path, "rb") as f:
            try:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError as e:  # empty file
                raise GgufError(f"{self.path}: cannot map: {e}") from e
        self._buf = memoryview(self._map)
        self._parse()

    def _parse(self):
        cur = _Cursor(self._buf)
        start = cur.take(4, "magic")
        if bytes(self._buf[start:start + 4]) != GGUF_MAGIC:
            raise GgufError(f"{self.path}: bad magic, not a GGUF file")
        self.version = cur.scalar("<I", "version")
        if self.version not in (2, 3):
            raise GgufError(f"{self.path}: GGUF version {self.version} not supported "
                            "(2 or 3; a byte-swapped version means a big-endian file)")
        n_tensors = cur.scalar("<Q", "tensor count")
        n_kv = cur.scalar("<Q", "metadata count")
        if n_tensors > len(self._buf) or n_kv > len(self._buf):
            raise GgufError(f"{self.path}: implausible counts {n_tensors} tensors, {n_kv} keys")
        self.metadata = {}
        self.metadata_raw = {}  # key -> the bytes of its type and value, for copying
        for i in range(n_kv):
            key = cur.string(f"key #{i}")
            start = cur.pos
            vtype = cur.scalar("<I", f"type of {key}")
            self.metadata[key] = cur.value(vtype, key)
            self.metadata_raw[key] = bytes(self._buf[start:cur.pos])
        self.tensors = {}
        for i in range(n_tensors):
            name = cur.string(f"tensor #{i} name")
            n_dims = cur.scalar("<I", f"{name} n_dims")
            if n_dims > 4:
                raise GgufError(f"{self.path}: tensor {name} has {n_dims} dims (max 4)")
            ne = [cur.scalar("<Q", f"{name} ne[{d}]") for d in range(n_dims)]
            type_id = cur.scalar("<I", f"{name} type")
            offset = cur.scalar("<Q", f"{name} offset")
            if type_id not in GGML_TYPES:
                raise GgufError(f"{self.path}: tensor {name} has unknown type {type_id}")
            info = TensorInfo(name, ne, type_id, offset)
            if info.ne and info.ne[0] % info.block_elems != 0:
                raise GgufError(f"{self.path}: tensor {name} row {info.ne[0]} is not a "
                                f"multiple of the {info.type_name} block")
            if name in self.tensors:
                raise GgufError(f"{self.path}: duplicate tensor {name}")
            self.tensors[name] = info
        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise GgufError(f"{self.path}: general.alignment {self.alignment} is not a power of 2")
        self.data_offset = -(-cur.pos // self.alignment) * self.alignment
        for info in self.tensors.values():
            if info.offset % self.alignment:
                raise GgufError(f"{self.path}: tensor {info.name} offset {info.offset} "
                                "is not aligned")
            end = self.data_offset + info.offset + info.n_bytes
            if end > len(self._buf):
                raise GgufError(f"{self.path}: tensor {info.name} data [{info.offset}, "
                                f"+{info.n_bytes}) runs past the end of the file")

    def get(self, key, default=None):
        return self.metadata.get(key, default)

    def raw(self, name):
        """The tensor's bytes as a read-only uint8 numpy view."""
        info = self.tensors[name]
        return np.frombuffer(self._buf, dtype=np.uint8, count=info.n_bytes,
                             offset=self.data_offset + info.offset)

    def view(self, name):
        """A zero-copy numpy view for unquantized types (shape = reversed ne)."""
        info = self.tensors[name]
        np_types = {"F32": "<f4", "F16": "<f2", "I8": "<i1", "I16": "<i2", "I32": "<i4",
                    "I64": "<i8", "F64": "<f8", "BF16": "<u2"}
        if info.type_name not in np_types:
            raise GgufError(f"{info.name}: {info.type_name} has no plain view; use tensor()")
        return self.raw(name).view(np_types[info.type_name]).reshape(info.shape)

    def tensor(self, name):
        """The tensor dequantized to a new float64 array of shape reversed(ne)."""
        info = self.tensors[name]
        return dequantize(self.raw(name), info.type_id, info.n_elems).reshape(info.shape)


# --- dequantization -------------------------------------------------------------------------
# Each function takes the raw bytes of n_blocks consecutive blocks as a uint8 array of shape
# [n_blocks, block_bytes] and returns float64 [n_blocks, block_elems].


def _f16(blocks, start):
    """The fp16 at byte `start` of each block, as float64 [n_blocks, 1]."""
    return blocks[:, start:start + 2].copy().view("<f2").astype(np.float64)


def _deq_q4_0(b):
    d = _f16(b, 0)
    qs = b[:, 2:18]
    q = np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.float64) - 8
    return d * q


def _deq_q4_1(b):
    d, m = _f16(b, 0), _f16(b, 2)
    qs = b[:, 4:20]
    q = np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.float64)
    return d * q + m


def _q5_values(qh_bytes, qs):
    # Element j (0..15) takes its 5th bit from bit j of qh, element j+16 from bit j+16.
    qh = qh_bytes.copy().view("<u4")  # [n, 1]
    bits = (qh >> np.arange(32, dtype=np.uint32)) & 1  # [n, 32]
    low = np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.int64)
    return low | (bits.astype(np.int64) << 4)


def _deq_q5_0(b):
    d = _f16(b, 0)
    q = _q5_values(b[:, 2:6], b[:, 6:22]).astype(np.float64) - 16
    return d * q


def _deq_q5_1(b):
    d, m = _f16(b, 0), _f16(b, 2)
    q = _q5_values(b[:, 4:8], b[:, 8:24]).astype(np.float64)
    return d * q + m


def _deq_q8_0(b):
    d = _f16(b, 0)
    return d * b[:, 2:34].view(np.int8).astype(np.float64)


def _deq_q2_k(b):
    # scales[16], qs[64], d, dmin. Each half of 128 values uses 32 bytes of qs; value
    # 128*h + 32*s + l is bits 2s..2s+1 of qs[32h + l]; sub-block of 16 has scale index
    # (128*h + 32*s + l) // 16, low nibble = scale, high nibble = min.
    n = b.shape[0]
    scales = b[:, 0:16]
    qs = b[:, 16:80].reshape(n, 2, 1, 32)
    d, dmin = _f16(b, 80), _f16(b, 82)
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
    q = ((qs >> shifts) & 3).reshape(n, QK_K).astype(np.float64)  # [n, h, s, l]
    sc = np.repeat(scales & 0xF, 16, axis=1).astype(np.float64)
    mn = np.repeat(scales >> 4, 16, axis=1).astype(np.float64)
    return d * sc * q - dmin * mn


def _deq_q3_k(b):
    # hmask[32], qs[64], scales[12], d. Same 2-bit layout as Q2_K; the high bit of value
    # 128*h + 32*s + l is bit (4h + s) of hmask[l]; a clear bit subtracts 4.
    n = b.shape[0]
    hmask = b[:, 0:32]
    qs = b[:, 32:96].reshape(n, 2, 1, 32)
    raw = b[:, 96:108].astype(np.int64)
    d = _f16(b, 108)
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
    low = ((qs >> shifts) & 3).reshape(n, QK_K).astype(np.int64)
    bit_index = (np.arange(2).reshape(2, 1) * 4 + np.arange(4).reshape(1, 4)).reshape(1, 2, 4, 1)
    high = (hmask.reshape(n, 1, 1, 32).astype(np.int64) >> bit_index) & 1
    q = low - 4 * (1 - high.reshape(n, QK_K))
    # 16 six-bit scales: low 4 bits from raw[0..7] (low nibble for j<8, high nibble for
    # j>=8), high 2 bits from raw[8 + j%4] at bit 2*(j//4); stored with an offset of 32.
    j = np.arange(16)
    low4 = np.where(j < 8, raw[:, j % 8] & 0xF, raw[:, j % 8] >> 4)
    high2 = (raw[:, 8 + j % 4] >> (2 * (j // 4))) & 3
    sc = (low4 | (high2 << 4)) - 32
    return d * np.repeat(sc, 16, axis=1).astype(np.float64) * q


def _k4_scales_mins(packed):
    """The 8 six-bit scales and mins of Q4_K/Q5_K from their 12 packed bytes."""
    p = packed.astype(np.int64)
    sc = np.empty((p.shape[0], 8), dtype=np.int64)
    mn = np.empty_like(sc)
    sc[:, 0:4] = p[:, 0:4] & 63
    mn[:, 0:4] = p[:, 4:8] & 63
    sc[:, 4:8] = (p[:, 8:12] & 0xF) | ((p[:, 0:4] >> 6) << 4)
    mn[:, 4:8] = (p[:, 8:12] >> 4) | ((p[:, 4:8] >> 6) << 4)
    return sc.astype(np.float64), mn.astype(np.float64)


def _deq_q4_k(b):
    # d, dmin, scales[12], qs[128]. Chunk c of 64 values uses qs[32c:32c+32]: the low
    # nibbles are sub-block 2c, the high nibbles sub-block 2c+1.
    n = b.shape[0]
    d, dmin = _f16(b, 0), _f16(b, 2)
    sc, mn = _k4_scales_mins(b[:, 4:16])
    qs = b[:, 16:144].reshape(n, 4, 1, 32)
    q = np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(n, QK_K).astype(np.float64)
    return (d * np.repeat(sc, 32, axis=1)) * q - dmin * np.repeat(mn, 32, axis=1)


def _deq_q5_k(b):
    # d, dmin, scales[12], qh[32], qs[128]. As Q4_K, plus a 5th bit: sub-block s takes it
    # from bit s of qh[l].
    n = b.shape[0]
    d, dmin = _f16(b, 0), _f16(b, 2)
    sc, mn = _k4_scales_mins(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int64).reshape(n, 1, 32)
    qs = b[:, 48:176].reshape(n, 4, 1, 32)
    low = np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(n, 8, 32).astype(np.int64)
    high = (qh >> np.arange(8).reshape(1, 8, 1)) & 1
    q = (low + 16 * high).reshape(n, QK_K).astype(np.float64)
    return (d * np.repeat(sc, 32, axis=1)) * q - dmin * np.repeat(mn, 32, axis=1)


def _deq_q6_k(b):
    # ql[128], qh[64], scales[16] (int8), d. Half h (128 values) uses ql[64h:64h+64] and
    # qh[32h:32h+32]; quarter s (32 values), position l: low 4 bits from ql[64h + 32*(s&1)
    # + l] (low nibble for s<2, high for s>=2), high 2 bits from qh[32h + l] >> 2s.
    n = b.shape[0]
    ql = b[:, 0:128].reshape(n, 2, 2, 32).astype(np.int64)  # [n, h, s&1, l]
    qh = b[:, 128:192].reshape(n, 2, 1, 32).astype(np.int64)
    scales = b[:, 192:208].view(np.int8).astype(np.float64)
    d = _f16(b, 208)
    low = np.concatenate([ql & 0xF, ql >> 4], axis=2)  # [n, h, s, l]
    high = (qh >> (2 * np.arange(4).reshape(1, 1, 4, 1))) & 3
    q = ((low | (high << 4)) - 32).reshape(n, QK_K).astype(np.float64)
    return d * np.repeat(scales, 16, axis=1) * q


_DEQUANTIZERS = {
    "Q4_0": _deq_q4_0, "Q4_1": _deq_q4_1, "Q5_0": _deq_q5_0, "Q5_1": _deq_q5_1,
    "Q8_0": _deq_q8_0, "Q2_K": _deq_q2_k, "Q3_K": _deq_q3_k, "Q4_K": _deq_q4_k,
    "Q5_K": _deq_q5_k, "Q6_K": _deq_q6_k,
}


def dequantize(raw, type_id, n_elems):
    """Raw bytes (uint8 array) of `n_elems` values of ggml type `type_id` -> float64 [n_elems]."""
    if type_id not in GGML_TYPES:
        raise GgufError(f"unknown ggml type {type_id}")
    name, block_elems, block_bytes = GGML_TYPES[type_id]
    if n_elems % block_elems:
        raise GgufError(f"{n_elems} values are not whole {name} blocks")
    n_bytes = n_elems // block_elems * block_bytes
    raw = np.asarray(raw, dtype=np.uint8).reshape(-1)
    if raw.size < n_bytes:
        raise GgufError(f"{name}: {n_elems} values need {n_bytes} bytes, have {raw.size}")
    raw = raw[:n_bytes]
    if name == "F32":
        return raw.view("<f4").astype(np.float64)
    if name == "F16":
        return raw.view("<f2").astype(np.float64)
    if name == "BF16":
        return (raw.view("<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64)
    if name == "F64":
        return raw.view("<f8").astype(np.float64)
    if name in ("I8", "I16", "I32", "I64"):
        return raw.view({"I8": "<i1", "I16": "<i2", "I32": "<i4", "I64": "<i8"}[name]) \
            .astype(np.float64)
    blocks = raw.reshape(-1, block_bytes)
    return _DEQUANTIZERS[name](blocks).reshape(-1)


def write_gguf(path, metadata_raw, tensors, alignment=DEFAULT_ALIGNMENT):
    """Writes a GGUF v3 file: a minimal writer for building test variants of existing files.

    metadata_raw: dict key -> bytes of the value's type and value (GgufFile.metadata_raw);
    a "general.alignment" entry, if any, must agree with `alignment`.
    tensors: list of (name, ne in ggml order, ggml type id, raw bytes).
    """
    def gguf_string(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    out = bytearray(GGUF_MAGIC + struct.pack("<IQQ", 3, len(tensors), len(metadata_raw)))
    for key, raw in metadata_raw.items():
        out += gguf_string(key) + raw
    data = bytearray()
    for name, ne, type_id, raw in tensors:
        data += b"\0" * (-len(data) % alignment)
        out += gguf_string(name) + struct.pack("<I", len(ne))
        out += b"".join(struct.pack("<Q", int(n)) for n in ne)
        out += struct.pack("<IQ", type_id, len(data))
        data += bytes(raw)
    out += b"\0" * (-len(out) % alignment)
    with open(path, "wb") as f:
        f.write(bytes(out))
        f.write(bytes(data))
