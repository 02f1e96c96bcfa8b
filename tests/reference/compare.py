"""The comparison core shared by the reference's script tests.

`check_logits_file` reads a float32 little-endian [n_tokens][n_vocab] logits file (what
`moelab logits --all -o FILE` writes, and the oracle's NAME.logits.f32 format), computes the
reference's float64 logits for the same GGUF and tokens, and reports max |diff|.
"""

import os

import numpy as np

try:
    from . import model_np
except ImportError:
    import model_np


def read_logits_f32(path, n_tokens, n_vocab):
    """The logits file at `path` as float64 [n_tokens, n_vocab]; ValueError if its size is off."""
    size = os.path.getsize(path)
    want = n_tokens * n_vocab * 4
    if size != want:
        raise ValueError(f"{path}: {size} bytes, expected {want} for "
                         f"[{n_tokens}][{n_vocab}] float32")
    return np.fromfile(path, dtype="<f4").astype(np.float64).reshape(n_tokens, n_vocab)


class CaseResult:
    def __init__(self, name, max_diff, tol, detail=""):
        self.name = name
        self.max_diff = max_diff
        self.tol = tol
        self.detail = detail
        self.ok = bool(np.isfinite(max_diff) and max_diff <= tol)

    def line(self):
        status = "ok  " if self.ok else "FAIL"
        extra = f"  {self.detail}" if self.detail else ""
        return f"{status} {self.name}: max|diff| {self.max_diff:.3g} (tol {self.tol:g}){extra}"


def compare_arrays(name, actual, expected, tol):
    """Max abs diff of two [n_tokens, n_vocab] arrays, with where the worst one sits."""
    if actual.shape != expected.shape:
        return CaseResult(name, float("inf"), tol,
                          f"shape {actual.shape} != expected {expected.shape}")
    diff = np.abs(actual - expected)
    if not np.all(np.isfinite(actual)):
        return CaseResult(name, float("inf"), tol, "non-finite values in the logits")
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    argmax_mismatch = int(np.sum(np.argmax(actual, axis=1) != np.argmax(expected, axis=1)))
    detail = f"worst at token {worst[0]} vocab {worst[1]}"
    if argmax_mismatch:
        detail += f", argmax differs at {argmax_mismatch} positions"
    return CaseResult(name, float(diff.max()), tol, detail)


def check_logits_file(name, model, tokens, logits_path, tol, max_active_experts=None,
                      expert_threshold=None, kv_cache_type="f32"):
    """Compares the logits in `logits_path` with the reference.

    model: a model_np.ReferenceModel or a GGUF path. Returns a CaseResult (never raises for
    a bad or missing logits file: that is a failed case with the reason in `detail`).
    """
    if not isinstance(model, model_np.ReferenceModel):
        model = model_np.ReferenceModel(model)
    expected, _ = model.forward(tokens, max_active_experts, expert_threshold, kv_cache_type)
    try:
        actual = read_logits_f32(logits_path, len(tokens), expected.shape[1])
    except (OSError, ValueError) as e:
        return CaseResult(name, float("inf"), tol, str(e))
    return compare_arrays(name, actual, expected, tol)
