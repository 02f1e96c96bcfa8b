#!/usr/bin/env python3
"""`moelab quantize` round trips and `moelab bench --json` output.

Quantize: tiny F32 presets (dense, tied embeddings, MoE, MLA) are quantized to every
target; the numpy reference reader (tests/reference/gguf_np.py, independent of moelab's
C++ dequantizers) checks general.file_type (llama.cpp's numbers), that 1-D tensors and
the router stay F32, that every quantized tensor is close to its F32 original, and that
the logits `moelab logits` computes from the quantized file stay within a per-type bound
of the F32 model's. Both run with float32 activations, so the bound measures the weights'
rounding alone (8-bit activations add their own, which the llama.cpp oracle checks).

Bench: the JSON lines have llama-bench's fields and moelab's, with positive values that
agree with each other (floor_ts = bandwidth / bytes_per_token, pct = avg_ts / floor_ts)
and with the tests asked for. No timing thresholds.
Exits 1 on any failure.
"""

import os
import sys

import numpy as np  # Debian's python3-numpy; ctest starts us with /usr/bin/python3

import json
import pathlib
import subprocess
import tempfile

SOURCE_DIR = pathlib.Path(os.environ.get("MOELAB_SOURCE_DIR")
                          or pathlib.Path(__file__).resolve().parents[2])
sys.dont_write_bytecode = True
sys.path.insert(0, str(SOURCE_DIR / "tests" / "reference"))
import gguf_np  # noqa: E402

MOELAB = os.environ.get("MOELAB", "moelab")
FAILURES = []

# llama.cpp's llama_ftype numbers (llama.h).
FTYPE = {"F16": 1, "BF16": 32, "Q8_0": 7, "Q4_0": 2, "Q4_K": 14, "Q5_K": 16, "Q6_K": 18,
         "Q4_K_M": 15, "Q5_K_M": 17}
# Bounds on the relative RMS error of each quantized tensor against its F32 original,
# from the types' bit widths (a b-bit type rounds to ~2^-b of a block's range; tiny
# presets have 64-wide rows, so the K types fall back to Q5_0/Q5_1/Q8_0 there).
TENSOR_BOUND = {"F16": 1e-3, "BF16": 1e-2, "Q8_0": 1e-2, "Q6_K": 4e-2, "Q5_K": 8e-2,
                "Q5_K_M": 8e-2, "Q4_K": 0.16, "Q4_K_M": 0.16, "Q4_0": 0.2}
# The last position's logits may drift from the F32 model's by at most this many times
# the worst tensor's error (errors of a few layers add up). In MoE models a
# 4- or 5-bit file can flip expert choices, which moves logits by more than any
# multiple of the weight error: there only "still clearly correlated" is asked.
LOGIT_FACTOR = 10.0
MOE_LOW_BIT_LOGIT_BOUND = 0.9
HIGH_PRECISION = {"F16", "BF16", "Q8_0", "Q6_K"}
PRESETS = ["tiny-llama", "tiny-llama-tied", "tiny-qwen3moe", "tiny-deepseek2"]
TOKENS = "1,5,9,23,42,7,3,11,60,2"


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def run(*args):
    r = subprocess.run([MOELAB, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"moelab {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def rel_rms(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(np.sqrt(np.mean((a - b) ** 2)) / (np.sqrt(np.mean(b ** 2)) + 1e-30))


def logits(path, work):
    out = os.path.join(work, "logits.bin")
    run("logits", str(path), "--tokens", TOKENS, "-o", out, "-t", "2", "--activations", "f32")
    return np.fromfile(out, dtype=np.float32)


def check_quantize(work):
    for preset in PRESETS:
        f32 = os.path.join(work, preset + ".gguf")
        run("make-model", "--preset", preset, "-o", f32, "--seed", "3")
        ref = gguf_np.GgufFile(f32)
        ref_logits = logits(f32, work)
        for target, ftype in FTYPE.items():
            out = os.path.join(work, f"{preset}-{target}.gguf")
            run("quantize", f32, out, target, "-t", "2")
            q = gguf_np.GgufFile(out)
            tag = f"{preset} {target}"
            check(q.metadata.get("general.file_type") == ftype, f"{tag}: general.file_type {ftype}")
            check(list(q.tensors) == list(ref.tensors), f"{tag}: same tensors in the same order")
            worst, n_quantized, bad_f32 = 0.0, 0, []
            for name, info in q.tensors.items():
                if len(info.ne) == 1 or "_norm" in name or "ffn_gate_inp." in name:
                    if info.type_name.lower() != "f32":
                        bad_f32.append(name)
                    continue
                if info.type_name.lower() == "f32":
                    continue
                n_quantized += 1
                worst = max(worst, rel_rms(q.tensor(name), ref.tensor(name)))
            check(not bad_f32, f"{tag}: 1-D tensors, norms and the router stay f32 {bad_f32}")
            check(n_quantized > 0, f"{tag}: weights were converted")
            check(worst <= TENSOR_BOUND[target],
                  f"{tag}: worst tensor error {worst:.2e} <= {TENSOR_BOUND[target]:.0e}")
            err = rel_rms(logits(out, work), ref_logits)
            moe = "qwen3moe" in preset or "deepseek" in preset
            bound = (MOE_LOW_BIT_LOGIT_BOUND if moe and target not in HIGH_PRECISION
                     else LOGIT_FACTOR * worst)
            check(err <= bound, f"{tag}: logits error {err:.2e} <= {bound:.2e}")
            os.remove(out)
        os.remove(f32)
    # Requantizing a quantized file works (dequantize, then quantize).
    f32 = os.path.join(work, "tiny-llama.gguf")
    run("make-model", "--preset", "tiny-llama", "-o", f32, "--seed", "3")
    q8 = os.path.join(work, "q8.gguf")
    q4 = os.path.join(work, "q4.gguf")
    run("quantize", f32, q8, "Q8_0")
    run("quantize", q8, q4, "Q4_0")
    check(gguf_np.GgufFile(q4).metadata.get("general.file_type") == 2, "Q8_0 -> Q4_0 requantize")
    bad = subprocess.run([MOELAB, "quantize", f32, q4, "Q3_K_XL"], capture_output=True, text=True)
    check(bad.returncode != 0 and "Q3_K_XL" in bad.stderr, "an unknown type is an error naming it")


LLAMA_BENCH_FIELDS = ["model_filename", "model_type", "n_prompt", "n_gen", "n_depth",
                      "n_threads", "avg_ts", "stddev_ts"]
MOELAB_FIELDS = ["bytes_per_token", "kv_read_bytes_per_token", "bandwidth_gbs", "floor_ts",
                 "pct_of_floor", "peak_rss_bytes", "avg_active_experts"]


def info_json(path):
    return json.loads(run("info", str(path), "--json"))


def bench(path, *extra):
    out = run("bench", str(path), "-p", "16", "-n", "4", "-d", "0,20", "-r", "2", "-t", "2",
              "--json", "--bandwidth-mib", "16", *extra)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def check_bench(work):
    for preset in ["tiny-llama", "tiny-qwen3moe"]:
        path = os.path.join(work, preset + ".gguf")
        run("make-model", "--preset", preset, "-o", path, "--type", "q8_0")
        rows = bench(path)
        check(len(rows) == 4, f"bench {preset}: one line per test (2 depths x pp, tg)")
        want = {(16, 0, 0), (0, 4, 0), (16, 0, 20), (0, 4, 20)}
        got = {(r.get("n_prompt"), r.get("n_gen"), r.get("n_depth")) for r in rows}
        check(got == want, f"bench {preset}: tests {sorted(got)}")
        for r in rows:
            tag = f"bench {preset} {r.get('test')}"
            missing = [f for f in LLAMA_BENCH_FIELDS + MOELAB_FIELDS if f not in r]
            check(not missing, f"{tag}: has every field {missing}")
            if missing:
                continue
            check(r["model_filename"] == path and r["n_threads"] == 2, f"{tag}: file and threads")
            check(r["avg_ts"] > 0 and r["stddev_ts"] >= 0 and r["bytes_per_token"] > 0
                  and r["bandwidth_gbs"] > 0 and r["peak_rss_bytes"] > 0, f"{tag}: values positive")
            # A probe before the test and one after each of its 2 repetitions.
            probes = r.get("bandwidth_samples_gbs", [])
            check(len(probes) == 3 and min(probes) > 0
                  and probes[0] == r.get("bandwidth_before_gbs") and probes[-1] == r.get("bandwidth_after_gbs")
                  and abs(r["bandwidth_gbs"] - sum(probes) / 3) <= 1e-9 * r["bandwidth_gbs"],
                  f"{tag}: bandwidth = mean of the probes before the test and after each repetition {probes}")
            floor = r["bandwidth_gbs"] * 1e9 / r["bytes_per_token"]
            check(abs(r["floor_ts"] - floor) <= 1e-9 * floor, f"{tag}: floor = bandwidth / bytes")
            check(abs(r["pct_of_floor"] - 100 * r["avg_ts"] / r["floor_ts"]) <= 1e-9 * r["pct_of_floor"],
                  f"{tag}: pct = avg_ts / floor")
            check(len(r.get("samples_ts", [])) == 2, f"{tag}: two samples")
            size = os.path.getsize(path)
            weights = r["bytes_per_token"] - r["kv_read_bytes_per_token"]
            check(0 < weights <= size, f"{tag}: weight bytes per token <= file size")
            # Decode reads the cache too: n_depth + (n_gen + 1) / 2 positions a token.
            kv_pos = info_json(path)["kv_bytes_per_token"]
            want_kv = int(kv_pos * (r["n_depth"] + (r["n_gen"] + 1) / 2)) if r["n_gen"] > 0 else 0
            check(r["kv_read_bytes_per_token"] == want_kv,
                  f"{tag}: KV bytes read per token {r['kv_read_bytes_per_token']}, want {want_kv}")
            check(r.get("type_k") == "f32" and r.get("type_v") == "f32",
                  f"{tag}: the cache types, under llama-bench's names")
            if preset == "tiny-qwen3moe":
                used = gguf_np.GgufFile(path).metadata["qwen3moe.expert_used_count"]
                check(abs(r["avg_active_experts"] - used) < 1e-9, f"{tag}: {used} experts a token")
            else:
                check(r["avg_active_experts"] == 0, f"{tag}: dense: no experts")
        if preset == "tiny-qwen3moe":
            capped = bench(path, "--max-active-experts", "1")
            check(all(abs(r["avg_active_experts"] - 1) < 1e-9 for r in capped),
                  "bench --max-active-experts 1: one expert a token")
            check(all(c["bytes_per_token"] < r["bytes_per_token"] for c, r in zip(capped, rows)),
                  "bench --max-active-experts 1: fewer bytes per token")
        # An f16 cache: named in type_k/type_v, and decode reads half the cache bytes.
        half = bench(path, "--kv-type", "f16")
        kv_f16 = info_json(path)["kv_bytes_per_token_f16"]
        check(2 * kv_f16 == info_json(path)["kv_bytes_per_token"], "info: f16 cache bytes are half")
        for h, r in zip(half, rows):
            tag = f"bench {preset} --kv-type f16 {h.get('test')}"
            check(h.get("type_k") == "f16" and h.get("type_v") == "f16", f"{tag}: type_k/type_v")
            check(2 * h.get("kv_read_bytes_per_token", -1) in (r["kv_read_bytes_per_token"],
                                                                r["kv_read_bytes_per_token"] + 1),
                  f"{tag}: half the KV bytes ({h.get('kv_read_bytes_per_token')} against "
                  f"{r['kv_read_bytes_per_token']})")
        proc = subprocess.run([MOELAB, "bench", path, "--kv-type", "q4_0"], capture_output=True,
                              text=True)
        check(proc.returncode != 0 and "q4_0" in proc.stderr, "bench --kv-type q4_0 is refused")
        md = run("bench", path, "-p", "8", "-n", "2", "-r", "1", "--bandwidth-mib", "16")
        check(md.startswith("| model |") and md.count("\n") == 4, "bench: a markdown table by default")
    # DeepSeek: either MLA form can be benchmarked, and the JSON says which ran.
    mla = os.path.join(work, "tiny-deepseek2.gguf")
    run("make-model", "--preset", "tiny-deepseek2", "-o", mla, "--type", "q8_0")
    for mode in ["auto", "absorbed", "decompressed"]:
        rows = bench(mla, "--mla-mode", mode)
        check(len(rows) == 4 and all(r.get("mla_mode") == mode and r["avg_ts"] > 0 for r in rows),
              f"bench tiny-deepseek2 --mla-mode {mode}: four tests, mla_mode recorded")
    proc = subprocess.run([MOELAB, "bench", mla, "--mla-mode", "fast"], capture_output=True, text=True)
    check(proc.returncode != 0 and "mla-mode" in proc.stderr, "bench --mla-mode fast is refused")
    check_bench_peer(work, path)


def check_bench_peer(work, path):
    """--peer: a llama-bench JSON file's figures beside ours, matched per test."""
    peer = os.path.join(work, "peer.json")
    with open(peer, "w") as f:  # shaped like `llama-bench -o json`, another directory
        json.dump([{"build_commit": "b1", "model_filename": "/elsewhere/" + os.path.basename(path),
                    "n_threads": 2, "n_prompt": 8, "n_gen": 0, "n_depth": 0, "avg_ts": 1000.0,
                    "stddev_ts": 5.0}], f)
    out = run("bench", path, "-p", "8", "-n", "2", "-r", "1", "-t", "2", "--bandwidth-mib", "16",
              "--json", "--peer", peer)
    rows = {r["test"]: r for r in map(json.loads, out.splitlines())}
    pp, tg = rows.get("pp8", {}), rows.get("tg2", {})
    check(pp.get("peer_ts") == 1000.0 and pp.get("peer_build") == "b1", "bench --peer: pp8 matched")
    check(abs(pp.get("vs_peer", 0) - pp.get("avg_ts", -1) / 1000.0) < 1e-12,
          "bench --peer: vs_peer = ours / peer")
    check("peer_ts" not in tg, "bench --peer: no peer figure for a test the peer did not run")
    md = run("bench", path, "-p", "8", "-n", "2", "-r", "1", "-t", "2", "--bandwidth-mib", "16",
             "--peer", peer)
    lines = md.splitlines()
    check("| peer t/s | vs peer |" in lines[0] and "1000.00" in lines[2] and lines[3].endswith("| - | - |"),
          "bench --peer: markdown columns")
    bad = os.path.join(work, "bad-peer.json")
    with open(bad, "w") as f:
        f.write("[{\"model_filename\": \"m\"}]")
    proc = subprocess.run([MOELAB, "bench", path, "-p", "8", "-n", "0", "--peer", bad],
                          capture_output=True, text=True)
    check(proc.returncode != 0 and bad in proc.stderr and "n_prompt" in proc.stderr,
          f"bench --peer: a malformed file is an error naming it: {proc.stderr.strip()}")


def main():
    base = os.environ.get("MOELAB_WORK_DIR")
    if base:
        os.makedirs(base, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as work:
        check_quantize(work)
        check_bench(work)
    if FAILURES:
        print(f"{len(FAILURES)} failure(s)")
        return 1
    print("all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
