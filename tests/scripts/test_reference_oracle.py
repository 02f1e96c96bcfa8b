#!/usr/bin/env python3
"""Checks the numpy reference (tests/reference/) against llama.cpp's oracle logits.

For every case in tests/data/oracle/: F32 models must match NAME.logits.f32 (llama.cpp)
within 1e-4 and reproduce greedy_16; quantized/F16 models must match NAME.exact.f32 (float64
logits from the dequantized weights) within 1e-3. It also checks the comparison core that
test_numpy_reference.py uses: llama.cpp's own logits file must pass it, a perturbed or
truncated copy must fail it. Prints max |diff| per case; exits 1 on any failure.
"""

import os
import sys

import numpy as np  # Debian's python3-numpy; ctest starts us with /usr/bin/python3

import json
import pathlib
import tempfile
import time

SOURCE_DIR = pathlib.Path(os.environ.get("MOELAB_SOURCE_DIR")
                          or pathlib.Path(__file__).resolve().parents[2])
sys.dont_write_bytecode = True  # importing the reference must not write into the tree
sys.path.insert(0, str(SOURCE_DIR / "tests" / "reference"))

import compare  # noqa: E402
import model_np  # noqa: E402

ORACLE_DIR = SOURCE_DIR / "tests" / "data" / "oracle"
F32_TOL = 1e-4
EXACT_TOL = 1e-3


def greedy(model, tokens, n):
    """The n tokens the reference picks greedily after `tokens` (full recompute per step)."""
    seq = list(tokens)
    for _ in range(n):
        logits, _ = model.forward(seq)
        seq.append(int(np.argmax(logits[-1])))
    return seq[len(tokens):]


def main():
    cases = sorted(ORACLE_DIR.glob("*.json"))
    if not cases:
        print(f"FAIL: no oracle cases in {ORACLE_DIR}")
        return 1
    failures = []
    start = time.time()
    for case_path in cases:
        case = json.loads(case_path.read_text())
        name = case_path.stem
        model = model_np.ReferenceModel(ORACLE_DIR / case["model"])
        tokens = case["tokens"]
        n_tok, n_vocab = case["logits_shape"]
        logits, _ = model.forward(tokens)
        llama_cpp = compare.read_logits_f32(ORACLE_DIR / case["logits"], n_tok, n_vocab)
        if case["dtype"].lower() == "f32":
            result = compare.compare_arrays(name + " vs llama.cpp", logits, llama_cpp, F32_TOL)
            print(result.line())
            if not result.ok:
                failures.append(result.name)
            got = greedy(model, tokens, len(case["greedy_16"]))
            if got != case["greedy_16"]:
                print(f"FAIL {name}: greedy_16 {got} != llama.cpp {case['greedy_16']}")
                failures.append(name + " greedy_16")
            else:
                print(f"ok   {name}: greedy_16 reproduced")
        else:
            exact = compare.read_logits_f32(ORACLE_DIR / (name + ".exact.f32"), n_tok, n_vocab)
            result = compare.compare_arrays(name + " vs exact", logits, exact, EXACT_TOL)
            info = np.abs(logits - llama_cpp).max()
            print(result.line() + f"  (vs llama.cpp, which rounds activations: {info:.3g})")
            if not result.ok:
                failures.append(result.name)

    # The comparison core test_numpy_reference.py relies on, run on files we know the
    # answer for: llama.cpp's logits must pass, a copy off by 2e-4 in one place or cut
    # short must fail.
    with tempfile.TemporaryDirectory() as tmp:
        for stem in ("llama-dense", "deepseek-v3"):
            case = json.loads((ORACLE_DIR / (stem + ".json")).read_text())
            gguf = ORACLE_DIR / case["model"]
            good = compare.check_logits_file(stem + " core/pass", gguf, case["tokens"],
                                             ORACLE_DIR / case["logits"], F32_TOL)
            data = np.fromfile(ORACLE_DIR / case["logits"], dtype="<f4")
            bad = data.copy()
            bad[len(bad) // 3] += np.float32(2e-4)
            bad_path = pathlib.Path(tmp) / "perturbed.f32"
            bad.tofile(bad_path)
            perturbed = compare.check_logits_file(stem + " core/perturbed", gguf,
                                                  case["tokens"], bad_path, F32_TOL)
            short_path = pathlib.Path(tmp) / "short.f32"
            data[:-1].tofile(short_path)
            short = compare.check_logits_file(stem + " core/short", gguf, case["tokens"],
                                              short_path, F32_TOL)
            missing = compare.check_logits_file(stem + " core/missing", gguf, case["tokens"],
                                                pathlib.Path(tmp) / "absent.f32", F32_TOL)
            for result, should_pass in ((good, True), (perturbed, False), (short, False),
                                        (missing, False)):
                verdict = "ok  " if result.ok == should_pass else "FAIL"
                print(f"{verdict} {result.name}: comparison says "
                      f"{'pass' if result.ok else 'fail'} ({result.max_diff:.3g}; "
                      f"{result.detail})")
                if result.ok != should_pass:
                    failures.append(result.name)

    print(f"{len(cases)} oracle cases in {time.time() - start:.1f}s")
    if failures:
        print("FAILED: " + ", ".join(failures))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
