#!/usr/bin/env python3
"""moelab's logits against the independent numpy reference, on every tiny preset.

For each preset (the required list plus any other tiny-* that `moelab make-model --list`
prints): `$MOELAB make-model --preset NAME -o DIR/NAME.gguf`, then
`$MOELAB logits DIR/NAME.gguf --tokens a,b,... --all -o out.f32` (float32 little-endian
[n_tokens][n_vocab]), compared with tests/reference/model_np.py on the same file:
  - F32 presets within 1e-4;
  - on MoE presets also `--max-active-experts K` for K = 1..expert_used_count and
    `--expert-threshold P` for P in 0.3, 0.7, 1.0;
  - F32 presets with `--kv-type f16` (DeepSeek in both MLA forms) against the reference
    with its cached K and V rounded to half, within 4e-4 (the rounding itself moves the
    logits by about 2e-3);
  - `--type q8_0` and `--type q4_k` of one dense and one MoE preset within 1e-3, run with
    `--activations f32` (the reference dequantizes the same file's weights and keeps
    activations in float; the default 8-bit activations are checked against llama.cpp by
    tests/model/oracle_test.cpp).
Environment: MOELAB (the binary, required: unset is a failure), MOELAB_SOURCE_DIR,
MOELAB_WORK_DIR (temp files). Prints max |diff| per case; exits 1 on any failure.
"""

import os
import sys

import numpy as np  # Debian's python3-numpy; ctest starts us with /usr/bin/python3

import pathlib
import re
import subprocess
import tempfile
import time

SOURCE_DIR = pathlib.Path(os.environ.get("MOELAB_SOURCE_DIR")
                          or pathlib.Path(__file__).resolve().parents[2])
sys.dont_write_bytecode = True  # importing the reference must not write into the tree
sys.path.insert(0, str(SOURCE_DIR / "tests" / "reference"))

import compare  # noqa: E402
import model_np  # noqa: E402

REQUIRED_PRESETS = ["tiny-llama", "tiny-llama-tied", "tiny-mixtral", "tiny-qwen2moe",
                    "tiny-qwen3moe", "tiny-deepseek2", "tiny-deepseek2-lite"]
THRESHOLDS = [0.3, 0.7, 1.0]
QUANT_TYPES = ["q8_0", "q4_k"]
QUANT_PRESETS = ["tiny-llama", "tiny-deepseek2"]  # one dense, one MoE
F32_TOL = 1e-4
QUANT_TOL = 1e-3
# Rounding the cache to half moves these logits by about 2e-3. The reference rounds float64
# values and moelab float32 ones, so an element that sits on a half rounding boundary can
# land one half-ulp apart (seen: 8.5e-5 on tiny-deepseek2-lite); the bar stays 5x below the
# effect it checks.
F16_KV_TOL = 4e-4
N_TOKENS = 20
COMMAND_TIMEOUT_S = 300


class Failure(Exception):
    """A step that cannot go on; the message says what failed and how."""


def run(cmd):
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Failure(f"`{' '.join(map(str, cmd))}` could not run: {e}") from e
    return proc


def describe(proc, cmd):
    out = (proc.stdout + proc.stderr).strip()
    return f"`{' '.join(map(str, cmd))}` exited {proc.returncode}: {out[-2000:]}"


def listed_presets(moelab):
    cmd = [moelab, "make-model", "--list"]
    proc = run(cmd)
    if proc.returncode != 0:
        raise Failure("cannot list presets: " + describe(proc, cmd))
    return sorted(set(re.findall(r"(?<![\w-])(tiny-[A-Za-z0-9_.-]*[A-Za-z0-9])",
                                 proc.stdout + proc.stderr)))


def make_model(moelab, preset, out_path, weight_type=None):
    cmd = [moelab, "make-model", "--preset", preset, "-o", out_path]
    if weight_type:
        cmd += ["--type", weight_type]
    proc = run(cmd)
    if proc.returncode != 0 or not pathlib.Path(out_path).is_file():
        text = (proc.stdout + proc.stderr).lower()
        if "unknown preset" in text:
            raise Failure(f"moelab make-model does not know preset {preset!r}, which this "
                          "test requires: " + describe(proc, cmd))
        raise Failure(f"make-model failed for {preset}: " + describe(proc, cmd))


def moelab_logits(moelab, gguf, tokens, out_path, extra):
    cmd = [moelab, "logits", gguf, "--tokens", ",".join(map(str, tokens)), "--all",
           "-o", out_path, "--activations", "f32"] + extra
    if os.path.exists(out_path):
        os.remove(out_path)
    proc = run(cmd)
    if proc.returncode != 0:
        raise Failure(describe(proc, cmd))


def test_tokens(n_vocab):
    """A fixed token list spread over the vocabulary (same for every preset)."""
    rng = np.random.RandomState(20240611)
    return [int(t) for t in rng.randint(0, n_vocab, size=N_TOKENS)]


def preset_cases(model, weight_type):
    """(label, extra CLI args, reference knobs, tolerance) for one model file."""
    tol = F32_TOL if weight_type is None else QUANT_TOL
    cases = [("default", [], {}, tol)]
    if weight_type is None and model.router is not None:
        for k in range(1, model.n_expert_used + 1):
            cases.append((f"max-active-experts {k}", ["--max-active-experts", str(k)],
                          {"max_active_experts": k}, tol))
        for p in THRESHOLDS:
            cases.append((f"expert-threshold {p}", ["--expert-threshold", str(p)],
                          {"expert_threshold": p}, tol))
    if weight_type is None:
        # The f16 KV cache: the reference rounds what the cache holds to half. MLA in both
        # forms, since they read the rounded latent differently.
        modes = [["--mla-mode", m] for m in ("absorbed", "decompressed")] \
            if model.arch == "deepseek2" else [[]]
        for mode in modes:
            cases.append((" ".join(["kv-type f16"] + mode[1:]), ["--kv-type", "f16"] + mode,
                          {"kv_cache_type": "f16"}, F16_KV_TOL))
    return cases


def check_model(moelab, work, preset, weight_type, results):
    label = preset + (f" --type {weight_type}" if weight_type else "")
    gguf = work / (preset + (f"-{weight_type}" if weight_type else "") + ".gguf")
    try:
        make_model(moelab, preset, gguf, weight_type)
        model = model_np.ReferenceModel(gguf)
    except Failure as e:
        results.append(compare.CaseResult(label, float("inf"), F32_TOL, str(e)))
        print(results[-1].line(), flush=True)
        return
    except Exception as e:  # the reference cannot read what moelab wrote
        results.append(compare.CaseResult(label, float("inf"), F32_TOL,
                                          f"reference cannot load {gguf}: {e}"))
        print(results[-1].line(), flush=True)
        return
    n_vocab = model.w("token_embd.weight").shape[0]
    tokens = test_tokens(n_vocab)
    out = work / "logits.f32"
    for name, extra, knobs, tol in preset_cases(model, weight_type):
        case_name = f"{label} [{name}]"
        try:
            moelab_logits(moelab, gguf, tokens, out, extra)
        except Failure as e:
            results.append(compare.CaseResult(case_name, float("inf"), tol, str(e)))
            print(results[-1].line(), flush=True)
            continue
        result = compare.check_logits_file(case_name, model, tokens, out, tol, **knobs)
        if knobs and "kv_cache_type" not in knobs:
            _, active = model.forward(tokens, **knobs)
            counts = np.concatenate(active) if active else np.zeros(0)
            result.detail += f"; reference active experts/token mean {counts.mean():.2f}"
        results.append(result)
        print(result.line(), flush=True)


def main():
    moelab = os.environ.get("MOELAB")
    if not moelab:
        print("FAIL: MOELAB is not set; it must name the moelab binary (ctest sets it)")
        return 1
    if not os.access(moelab, os.X_OK):
        print(f"FAIL: MOELAB={moelab} is not an executable file (build the moelab target)")
        return 1
    work_root = os.environ.get("MOELAB_WORK_DIR")
    if work_root:
        pathlib.Path(work_root).mkdir(parents=True, exist_ok=True)
    start = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="numpy_reference_", dir=work_root) as tmp:
        work = pathlib.Path(tmp)
        try:
            presets = REQUIRED_PRESETS + [p for p in listed_presets(moelab)
                                          if p not in REQUIRED_PRESETS]
        except Failure as e:
            print(f"FAIL: {e}")
            return 1
        for preset in presets:
            check_model(moelab, work, preset, None, results)
        for preset in QUANT_PRESETS:
            for weight_type in QUANT_TYPES:
                check_model(moelab, work, preset, weight_type, results)
    failed = [r for r in results if not r.ok]
    print(f"{len(results)} cases, {len(failed)} failed, {time.time() - start:.1f}s")
    for r in failed:
        print(r.line())
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
