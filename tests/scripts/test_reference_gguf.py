#!/usr/bin/env python3
"""Checks the numpy reference's GGUF reader and dequantizers (tests/reference/gguf_np.py).

- Reader: GGUF files written here byte by byte with struct, from the format spec (every
  metadata type, nested arrays, a non-default alignment, v2 and v3) read back to the values
  written; truncated or malformed files raise GgufError, never anything else.
- Dequantizers: hand-built blocks with hand-derived values for every type, and random
  blocks against a scalar transliteration of ggml's dequantize_row_* loops (pointer walks,
  one value at a time), which shares no indexing code with the vectorised versions.
Exits 1 on any failure.
"""

import os
import sys

import numpy as np  # Debian's python3-numpy; ctest starts us with /usr/bin/python3

import pathlib
import struct
import tempfile

SOURCE_DIR = pathlib.Path(os.environ.get("MOELAB_SOURCE_DIR")
                          or pathlib.Path(__file__).resolve().parents[2])
sys.dont_write_bytecode = True  # importing the reference must not write into the tree
sys.path.insert(0, str(SOURCE_DIR / "tests" / "reference"))

import gguf_np  # noqa: E402

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


# --- a GGUF writer written from the spec, for the reader tests -------------------------------

def s_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
          11: "<q", 12: "<d"}


def s_value(vtype, value):
    if vtype in SCALAR:
        return struct.pack(SCALAR[vtype], value)
    if vtype == 8:
        return s_str(value)
    etype, items = value  # arrays: (element type, list)
    out = struct.pack("<IQ", etype, len(items))
    return out + b"".join(s_value(etype, v) for v in items)


def write_gguf(path, version, kvs, tensors, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ne, type_id, raw bytes)]."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, vtype, value in kvs:
        head += s_str(key) + struct.pack("<I", vtype) + s_value(vtype, value)
    data = b""
    infos = b""
    for name, ne, type_id, raw in tensors:
        data += b"\0" * (-len(data) % alignment)
        infos += s_str(name) + struct.pack("<I", len(ne)) + b"".join(
            struct.pack("<Q", n) for n in ne) + struct.pack("<IQ", type_id, len(data))
        data += raw
    head += infos
    head += b"\0" * (-len(head) % alignment)
    pathlib.Path(path).write_bytes(head + data)


def test_reader(tmp):
    f32 = np.arange(6, dtype="<f4") - 2.5  # ne [3, 2] -> numpy [2, 3]
    f16 = np.array([1.5, -0.25, 65504.0, 0.0], dtype="<f2")
    q8 = struct.pack("<e", 0.5) + bytes(range(32))  # one Q8_0 block: values 0..31 * 0.5
    kvs = [
        ("general.architecture", 8, "llama"),
        ("general.alignment", 4, 64),
        ("t.u8", 0, 250), ("t.i8", 1, -7), ("t.u16", 2, 65000), ("t.i16", 3, -30000),
        ("t.u32", 4, 4000000000), ("t.i32", 5, -2000000000), ("t.f32", 6, 0.5),
        ("t.bool", 7, True), ("t.u64", 10, 2 ** 40 + 3), ("t.i64", 11, -(2 ** 40)),
        ("t.f64", 12, 1e-300), ("t.str", 8, "héllo"),
        ("t.arr_i32", 9, (5, [1, -2, 3])),
        ("t.arr_str", 9, (8, ["a", "", "ü"])),
        ("t.nested", 9, (9, [(8, ["x", "y"]), (4, [7, 8, 9]), (9, [(6, [0.25])])])),
        ("t.empty", 9, (12, [])),
    ]
    tensors = [("a", [3, 2], 0, f32.tobytes()), ("b", [4], 1, f16.tobytes()),
               ("c", [32, 1], 8, q8)]
    for version in (2, 3):
        path = tmp / f"v{version}.gguf"
        write_gguf(path, version, kvs, tensors, alignment=64)
        g = gguf_np.GgufFile(path)
        check(g.version == version and g.alignment == 64 and g.data_offset % 64 == 0,
              f"v{version}: version, alignment 64, aligned data offset")
        expect = {k: v for k, _, v in kvs}
        for k in ("t.u8", "t.i8", "t.u16", "t.i16", "t.u32", "t.i32", "t.f32", "t.bool",
                  "t.u64", "t.i64", "t.f64", "t.str"):
            check(g.metadata[k] == expect[k], f"v{version}: metadata {k} = {expect[k]!r}")
        check(g.metadata["t.arr_i32"] == [1, -2, 3], f"v{version}: int32 array")
        check(g.metadata["t.arr_str"] == ["a", "", "ü"], f"v{version}: string array")
        check(g.metadata["t.nested"] == [["x", "y"], [7, 8, 9], [[0.25]]],
              f"v{version}: nested arrays")
        check(g.metadata["t.empty"] == [], f"v{version}: empty array")
        check(g.tensors["a"].shape == (2, 3) and np.array_equal(g.tensor("a"),
                                                                 f32.reshape(2, 3)),
              f"v{version}: F32 tensor ne [3,2] reads as numpy [2,3]")
        check(np.array_equal(g.tensor("b"), f16.astype(np.float64)), f"v{version}: F16 tensor")
        check(np.array_equal(g.tensor("c").reshape(-1), np.arange(32) * 0.5),
              f"v{version}: Q8_0 tensor at a 64-aligned offset")
        check(g.tensors["c"].offset % 64 == 0 and g.tensors["c"].offset > 0,
              f"v{version}: second tensor offset padded to 64")
        check(g.view("a").dtype == np.dtype("<f4") and not g.view("a").flags.writeable,
              f"v{version}: F32 view is a read-only float32 view")

    # Malformed files: every truncation point and a few corruptions raise GgufError only.
    good = (tmp / "v3.gguf").read_bytes()
    bad_kinds = set()
    for cut in list(range(0, 200, 7)) + [len(good) - 1, len(good) - 33]:
        path = tmp / "cut.gguf"
        path.write_bytes(good[:cut])
        try:
            gguf_np.GgufFile(path)
            bad_kinds.add(f"truncated at {cut} was accepted")
        except gguf_np.GgufError:
            pass
        except Exception as e:  # anything else is a reader bug
            bad_kinds.add(f"truncated at {cut}: {type(e).__name__}: {e}")
    check(not bad_kinds, "truncated files raise GgufError " + "; ".join(sorted(bad_kinds)))
    for what, blob in (("bad magic", b"GGUX" + good[4:]),
                       ("version 1", good[:4] + struct.pack("<I", 1) + good[8:]),
                       ("huge tensor count", good[:8] + struct.pack("<Q", 2 ** 60) + good[16:]),
                       ("huge string length", good[:24] + struct.pack("<Q", 2 ** 62) + good[32:])):
        path = tmp / "bad.gguf"
        path.write_bytes(blob)
        try:
            gguf_np.GgufFile(path)
            ok = False
        except gguf_np.GgufError:
            ok = True
        except Exception:
            ok = False
        check(ok, f"{what} raises GgufError")


# --- dequantization --------------------------------------------------------------------------

def f16_bytes(x):
    return struct.pack("<e", x)


def f16_at(b, i):
    return float(np.frombuffer(bytes(b[i:i + 2]), dtype="<f2")[0])


def test_hand_blocks():
    def deq(type_name, raw, n):
        return gguf_np.dequantize(np.frombuffer(raw, dtype=np.uint8),
                                  gguf_np.TYPE_IDS[type_name], n)

    qs = bytes(j | ((15 - j) << 4) for j in range(16))
    y = deq("Q4_0", f16_bytes(0.5) + qs, 32)
    want = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    check(np.array_equal(y, want), "Q4_0 hand block: low nibbles first, then high, minus 8")
    y = deq("Q4_1", f16_bytes(0.25) + f16_bytes(-1.0) + qs, 32)
    want = [j * 0.25 - 1 for j in range(16)] + [(15 - j) * 0.25 - 1 for j in range(16)]
    check(np.array_equal(y, want), "Q4_1 hand block: d*q + m")
    qs5 = bytearray(16)
    qs5[3] = 0x21
    y = deq("Q5_0", f16_bytes(1.0) + struct.pack("<I", 0x80000001) + bytes(qs5), 32)
    want = [-16.0] * 32
    want[0], want[31], want[3], want[19] = 0.0, 0.0, -15.0, -14.0
    check(np.array_equal(y, want), "Q5_0 hand block: qh bit j is value j's 5th bit, minus 16")
    qs5 = bytearray(16)
    qs5[1] = 0xF0
    y = deq("Q5_1", f16_bytes(2.0) + f16_bytes(0.5) + struct.pack("<I", 1 << 17) + bytes(qs5),
            32)
    want = [0.5] * 32
    want[17] = 31 * 2.0 + 0.5
    check(np.array_equal(y, want), "Q5_1 hand block: value 17 = (15 | 16) * d + m")
    y = deq("Q8_0", f16_bytes(0.125) + np.arange(-16, 16, dtype=np.int8).tobytes(), 32)
    check(np.array_equal(y, np.arange(-16, 16) * 0.125), "Q8_0 hand block: signed bytes * d")
    bf = deq("BF16", struct.pack("<4H", 0x3F80, 0xC000, 0x3E20, 0x8000), 4)
    check(np.array_equal(bf, [1.0, -2.0, 0.15625, -0.0]), "BF16: top 16 bits of a float32")

    # Q2_K: value 130 is half 1, shift 0, l 2: bits 0..1 of qs[32 + 2]; sub-block 8.
    scales = bytearray(16)
    scales[8] = 3 | (5 << 4)
    qs2 = bytearray(64)
    qs2[34] = 0b10  # q = 2
    y = deq("Q2_K", bytes(scales) + bytes(qs2) + f16_bytes(0.5) + f16_bytes(0.25), 256)
    check(y[130] == 0.5 * 3 * 2 - 0.25 * 5 and y[129] == -0.25 * 5 and y[0] == 0.0,
          "Q2_K hand block: value 130 = d*sc*q - dmin*m of sub-block 8")
    # Q3_K: value 200 is half 1, shift 4 (s=2), l 8: q from qs[32+8] bits 4..5, high bit
    # from hmask[8] bit 4*1+2 = 6; scale index 12: low nibble = scales[4] >> 4, high 2 bits =
    # (scales[8] >> 6) & 3.
    hmask = bytearray(32)
    hmask[8] = 1 << 6
    qs3 = bytearray(64)
    qs3[40] = 0b11 << 4
    sc3 = bytearray(12)
    sc3[4] = 0x5 << 4
    sc3[8] = 0b10 << 6  # scale = 5 | (2 << 4) = 37, minus 32 = 5
    y = deq("Q3_K", bytes(hmask) + bytes(qs3) + bytes(sc3) + f16_bytes(0.5), 256)
    check(y[200] == 0.5 * 5 * 3, f"Q3_K hand block: value 200 = d*(37-32)*3 (got {y[200]})")
    check(y[201] == 0.5 * 5 * -4, "Q3_K hand block: clear high bit subtracts 4")
    # Q4_K: value 100 is chunk 1, high nibbles (sub-block 3), l 4: qs[32 + 4] >> 4.
    # Sub-block 3 scale/min: scales[3] & 63 and scales[7] & 63. Sub-block 5: (scales[9] & 15) |
    # (scales[1] >> 6) << 4 and (scales[9] >> 4) | (scales[5] >> 6) << 4.
    sc4 = bytearray(12)
    sc4[3], sc4[7] = 9, 4
    sc4[1], sc4[5], sc4[9] = 0b01 << 6, 0b10 << 6, 0x3 | (0x7 << 4)
    qs4 = bytearray(128)
    qs4[36] = 0xB0
    qs4[64 + 3] = 0x70  # chunk 2 high nibble, l 3 -> value 128 + 32 + 3 = 163, sub-block 5
    y = deq("Q4_K", f16_bytes(0.5) + f16_bytes(0.25) + bytes(sc4) + bytes(qs4), 256)
    check(y[100] == 0.5 * 9 * 11 - 0.25 * 4, "Q4_K hand block: value 100 in sub-block 3")
    check(y[163] == 0.5 * (3 | 16) * 7 - 0.25 * (7 | 32),
          f"Q4_K hand block: value 163 uses the packed 6-bit scale/min of sub-block 5 "
          f"(got {y[163]})")
    # Q5_K: value 163 also takes bit 5 of qh[3] as its 5th bit.
    qh5 = bytearray(32)
    qh5[3] = 1 << 5
    y = deq("Q5_K", f16_bytes(0.5) + f16_bytes(0.25) + bytes(sc4) + bytes(qh5) + bytes(qs4),
            256)
    check(y[163] == 0.5 * (3 | 16) * (7 + 16) - 0.25 * (7 | 32),
          "Q5_K hand block: qh bit s is sub-block s's 5th bit")
    # Q6_K: value 128 + 64 + 5 = 197 is half 1, quarter 2, l 5: low 4 bits = ql[64 + 5] >> 4,
    # high 2 bits = (qh[32 + 5] >> 4) & 3; scale index 197 // 16 = 12.
    ql = bytearray(128)
    ql[69] = 0xA0
    qh6 = bytearray(64)
    qh6[37] = 0b11 << 4
    sc6 = np.zeros(16, dtype=np.int8)
    sc6[12] = -3
    y = deq("Q6_K", bytes(ql) + bytes(qh6) + sc6.tobytes() + f16_bytes(0.5), 256)
    check(y[197] == 0.5 * -3 * ((10 | 48) - 32), "Q6_K hand block: value 197")
    check(y[196] == 0.5 * -3 * -32, "Q6_K hand block: zero quant is -32")


def scalar_dequant(type_name, block):
    """ggml's dequantize_row_* for one block, transliterated loop for loop."""
    b = bytes(block)
    y = []
    if type_name in ("Q4_0", "Q4_1"):
        d = f16_at(b, 0)
        m = f16_at(b, 2) if type_name == "Q4_1" else 0.0
        qs = b[4:] if type_name == "Q4_1" else b[2:]
        off = 0 if type_name == "Q4_1" else 8
        out = [0.0] * 32
        for j in range(16):
            out[j] = ((qs[j] & 0x0F) - off) * d + m
            out[j + 16] = ((qs[j] >> 4) - off) * d + m
        return out
    if type_name in ("Q5_0", "Q5_1"):
        d = f16_at(b, 0)
        m = f16_at(b, 2) if type_name == "Q5_1" else 0.0
        base = 4 if type_name == "Q5_1" else 2
        qh = struct.unpack_from("<I", b, base)[0]
        qs = b[base + 4:]
        off = 0 if type_name == "Q5_1" else 16
        out = [0.0] * 32
        for j in range(16):
            xh0 = ((qh >> j) << 4) & 0x10
            xh1 = (qh >> (j + 12)) & 0x10
            out[j] = (((qs[j] & 0x0F) | xh0) - off) * d + m
            out[j + 16] = (((qs[j] >> 4) | xh1) - off) * d + m
        return out
    if type_name == "Q8_0":
        d = f16_at(b, 0)
        return [struct.unpack_from("<b", b, 2 + j)[0] * d for j in range(32)]
    if type_name == "Q2_K":
        scales, q_all = b[0:16], b[16:80]
        d, dmin = f16_at(b, 80), f16_at(b, 82)
        i_s, q = 0, 0
        for _ in range(0, 256, 128):
            shift = 0
            for _ in range(4):
                for half in (0, 16):
                    sc = scales[i_s]
                    i_s += 1
                    dl, ml = d * (sc & 0xF), dmin * (sc >> 4)
                    for l in range(16):
                        y.append(dl * ((q_all[q + l + half] >> shift) & 3) - ml)
                shift += 2
            q += 32
        return y
    if type_name == "Q3_K":
        hm, q_all, raw, d_all = b[0:32], b[32:96], b[96:108], f16_at(b, 108)
        aux = list(struct.unpack("<3I", raw)) + [0]
        kmask1, kmask2 = 0x03030303, 0x0F0F0F0F
        tmp = aux[2]
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4)
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4)
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4)
        scales = struct.unpack("<16b", struct.pack("<4I", *aux))
        i_s, q, m = 0, 0, 1
        for _ in range(0, 256, 128):
            shift = 0
            for _ in range(4):
                for half in (0, 16):
                    dl = d_all * (scales[i_s] - 32)
                    i_s += 1
                    for l in range(16):
                        qv = (q_all[q + l + half] >> shift) & 3
                        y.append(dl * (qv - (0 if hm[l + half] & m else 4)))
                shift += 2
                m <<= 1
            q += 32
        return y
    if type_name in ("Q4_K", "Q5_K"):
        d, dmin, sc = f16_at(b, 0), f16_at(b, 2), b[4:16]
        qh = b[16:48] if type_name == "Q5_K" else None
        ql = b[48:176] if type_name == "Q5_K" else b[16:144]

        def get_scale_min(j):
            if j < 4:
                return sc[j] & 63, sc[j + 4] & 63
            return ((sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4),
                    (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4))

        i_s, q, u1, u2 = 0, 0, 1, 2
        for _ in range(0, 256, 64):
            s1, m1 = get_scale_min(i_s)
            s2, m2 = get_scale_min(i_s + 1)
            for l in range(32):
                hi = (16 if qh[l] & u1 else 0) if qh else 0
                y.append(d * s1 * ((ql[q + l] & 0xF) + hi) - dmin * m1)
            for l in range(32):
                hi = (16 if qh[l] & u2 else 0) if qh else 0
                y.append(d * s2 * ((ql[q + l] >> 4) + hi) - dmin * m2)
            q += 32
            i_s += 2
            u1 <<= 2
            u2 <<= 2
        return y
    if type_name == "Q6_K":
        ql_all, qh_all = b[0:128], b[128:192]
        sc_all = struct.unpack("<16b", b[192:208])
        d = f16_at(b, 208)
        out = [0.0] * 256
        yo, ql, qh, sc = 0, 0, 0, 0
        for _ in range(0, 256, 128):
            for l in range(32):
                i_s = l // 16
                q1 = ((ql_all[ql + l] & 0xF) | (((qh_all[qh + l] >> 0) & 3) << 4)) - 32
                q2 = ((ql_all[ql + l + 32] & 0xF) | (((qh_all[qh + l] >> 2) & 3) << 4)) - 32
                q3 = ((ql_all[ql + l] >> 4) | (((qh_all[qh + l] >> 4) & 3) << 4)) - 32
                q4 = ((ql_all[ql + l + 32] >> 4) | (((qh_all[qh + l] >> 6) & 3) << 4)) - 32
                out[yo + l] = d * sc_all[sc + i_s] * q1
                out[yo + l + 32] = d * sc_all[sc + i_s + 2] * q2
                out[yo + l + 64] = d * sc_all[sc + i_s + 4] * q3
                out[yo + l + 96] = d * sc_all[sc + i_s + 6] * q4
            yo += 128
            ql += 64
            qh += 32
            sc += 8
        return out
    raise ValueError(type_name)


# Byte offsets of the fp16 fields of each block (filled with finite values in random blocks).
F16_FIELDS = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
              "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}


def test_random_blocks():
    rng = np.random.RandomState(7)
    for type_name, fields in F16_FIELDS.items():
        type_id = gguf_np.TYPE_IDS[type_name]
        _, block_elems, block_bytes = gguf_np.GGML_TYPES[type_id]
        n_blocks = 6
        raw = rng.randint(0, 256, size=(n_blocks, block_bytes)).astype(np.uint8)
        for off in fields:
            raw[:, off:off + 2] = np.frombuffer(
                rng.uniform(-0.1, 0.1, n_blocks).astype("<f2").tobytes(),
                dtype=np.uint8).reshape(n_blocks, 2)
        got = gguf_np.dequantize(raw.reshape(-1), type_id, n_blocks * block_elems)
        want = np.concatenate([scalar_dequant(type_name, raw[i]) for i in range(n_blocks)])
        err = float(np.max(np.abs(got - want)))
        tol = 1e-12 * max(1.0, float(np.max(np.abs(want))))
        check(err <= tol, f"{type_name}: {n_blocks} random blocks match ggml's scalar loops "
                          f"(max diff {err:.3g})")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_reader(pathlib.Path(tmp))
    test_hand_blocks()
    test_random_blocks()
    if FAILURES:
        print(f"FAILED {len(FAILURES)}: " + "; ".join(FAILURES))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
