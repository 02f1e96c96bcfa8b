#!/usr/bin/env python3
"""Checks reference paths the oracle files do not reach, by rewriting oracle models.

- deepseek2 with the legacy fused attn_kv_b (MODEL_MATH.md section 2: per head, rows
  0..nope-1 are W_UK[h], the next v_dim rows W_UV[h]) built from the oracle's split
  attn_k_b (= W_UK[h] transposed) and attn_v_b (= W_UV[h]): same logits as the split file.
- llama with tied embeddings (no output.weight): same logits as an untied file whose
  token_embd and output are both the tied matrix.
- rope_freqs divisors on a hand-rotated vector, and all-ones rope_freqs = none.
Exits 1 on any failure.
"""

import os
import sys

import numpy as np  # Debian's python3-numpy; ctest starts us with /usr/bin/python3

import json
import math
import pathlib
import tempfile

SOURCE_DIR = pathlib.Path(os.environ.get("MOELAB_SOURCE_DIR")
                          or pathlib.Path(__file__).resolve().parents[2])
sys.dont_write_bytecode = True  # importing the reference must not write into the tree
sys.path.insert(0, str(SOURCE_DIR / "tests" / "reference"))

import gguf_np  # noqa: E402
import model_np  # noqa: E402

ORACLE = SOURCE_DIR / "tests" / "data" / "oracle"
F32 = gguf_np.TYPE_IDS["F32"]
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def rewrite(src, dst, drop=(), add=(), replace=None):
    """Copies GGUF `src` to `dst` without tensors `drop`, plus F32 tensors `add`
    [(name, numpy array)]; `replace` maps a name to a new numpy array of the same shape."""
    g = gguf_np.GgufFile(src)
    tensors = []
    for name, info in g.tensors.items():
        if name in drop:
            continue
        if replace and name in replace:
            tensors.append((name, info.ne, F32, replace[name].astype("<f4").tobytes()))
        else:
            tensors.append((name, info.ne, info.type_id, g.raw(name).tobytes()))
    for name, arr in add:
        tensors.append((name, tuple(reversed(arr.shape)), F32, arr.astype("<f4").tobytes()))
    gguf_np.write_gguf(dst, g.metadata_raw, tensors, g.alignment)


def case(stem):
    c = json.loads((ORACLE / (stem + ".json")).read_text())
    return ORACLE / c["model"], c["tokens"]


def test_fused_kv_b(tmp):
    path, tokens = case("deepseek-v3")
    split = model_np.ReferenceModel(path)
    want, _ = split.forward(tokens)
    add, drop = [], []
    for il in range(split.n_layer):
        k_b = split.w(f"blk.{il}.attn_k_b.weight")  # [H, kv_lora, nope]
        v_b = split.w(f"blk.{il}.attn_v_b.weight")  # [H, v_dim, kv_lora]
        fused = np.concatenate([np.transpose(k_b, (0, 2, 1)), v_b], axis=1)
        add.append((f"blk.{il}.attn_kv_b.weight", fused.reshape(-1, fused.shape[-1])))
        drop += [f"blk.{il}.attn_k_b.weight", f"blk.{il}.attn_v_b.weight"]
    out = tmp / "fused.gguf"
    rewrite(path, out, drop=drop, add=add)
    fused_model = model_np.ReferenceModel(out)
    check(not fused_model.has("blk.0.attn_k_b.weight") and fused_model.has(
        "blk.0.attn_kv_b.weight"), "fused variant has attn_kv_b only")
    got, _ = fused_model.forward(tokens)
    diff = float(np.abs(got - want).max())
    check(diff < 1e-9, f"deepseek2 fused attn_kv_b = split attn_k_b/attn_v_b (max diff {diff:.3g})")


def test_tied(tmp):
    path, tokens = case("llama-dense")
    g = gguf_np.GgufFile(path)
    out_w = g.tensor("output.weight")  # [n_vocab, n_embd]
    both = tmp / "both.gguf"
    rewrite(path, both, replace={"token_embd.weight": out_w})
    tied = tmp / "tied.gguf"
    rewrite(path, tied, drop=["output.weight"], replace={"token_embd.weight": out_w})
    want, _ = model_np.ReferenceModel(both).forward(tokens)
    got, _ = model_np.ReferenceModel(tied).forward(tokens)
    check(np.array_equal(got, want), "llama without output.weight uses token_embd as output")
    orig, _ = model_np.ReferenceModel(path).forward(tokens)
    check(float(np.abs(orig - got).max()) > 1e-3, "the tied variant is a different model")

    ones = tmp / "ones.gguf"
    n_rot = int(g.metadata["llama.rope.dimension_count"])
    rewrite(path, ones, add=[("rope_freqs.weight", np.ones(n_rot // 2))])
    with_ones, _ = model_np.ReferenceModel(ones).forward(tokens)
    check(np.array_equal(with_ones, orig), "rope_freqs of ones changes nothing")
    twos = tmp / "twos.gguf"
    rewrite(path, twos, add=[("rope_freqs.weight", np.full(n_rot // 2, 2.0))])
    with_twos, _ = model_np.ReferenceModel(twos).forward(tokens)
    check(float(np.abs(with_twos - orig).max()) > 1e-3, "rope_freqs of twos changes logits")


def test_rope_by_hand():
    # n_rot 4, base 100: theta = [1, 1/10]; divisors [2, 4] -> [1/2, 1/40]. Position 3.
    x = np.array([[[1.0, 0.0, 0.0, 2.0, 7.0]]])  # [T=1, H=1, head_dim 5]; dim 4 unrotated
    norm = model_np.Rope(4, 100.0, neox=False, freq_divisors=np.array([2.0, 4.0]))
    got = norm(x, [3])[0, 0]
    a0, a1 = 3 * 0.5, 3 / 40
    want = [math.cos(a0), math.sin(a0), -2 * math.sin(a1), 2 * math.cos(a1), 7.0]
    check(np.allclose(got, want, atol=1e-15), f"adjacent-pair rope with divisors {got}")
    neox = model_np.Rope(4, 100.0, neox=True, freq_divisors=np.array([2.0, 4.0]))
    got = neox(x, [3])[0, 0]
    # NEOX pairs (x0, x2) with theta0 and (x1, x3) with theta1.
    want = [math.cos(a0), -2 * math.sin(a1), math.sin(a0), 2 * math.cos(a1), 7.0]
    check(np.allclose(got, want, atol=1e-15), f"neox rope with divisors {got}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_fused_kv_b(pathlib.Path(tmp))
        test_tied(pathlib.Path(tmp))
    test_rope_by_hand()
    if FAILURES:
        print(f"FAILED {len(FAILURES)}: " + "; ".join(FAILURES))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
