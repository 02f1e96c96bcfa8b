"""An independent float64 numpy forward pass for the GGUF architectures moelab runs.

Written from MODEL_MATH.md (moelab's shared notes on the model math and llama.cpp's GGUF
conventions), not from moelab's C++. Supports:
  - `llama` dense (GQA, adjacent-pair RoPE, optional rope_freqs divisors, optional
    biases, tied embeddings when output.weight is absent);
  - `llama` with experts (Mixtral: softmax, top-k, renormalised);
  - `qwen2moe` (q/k/v biases, NEOX RoPE, softmax top-k, no renormalisation, shared expert
    with a sigmoid gate);
  - `qwen3moe` (per-head q/k RMSNorm, head_dim from attention.key_length, NEOX RoPE,
    renormalised top-k);
  - `deepseek2` (MLA with or without q_lora, split attn_k_b/attn_v_b or fused attn_kv_b,
    computed in the decompressed form; YaRN with mscale^2 in the softmax scale; leading
    dense layers; sigmoid or softmax gating, selection bias, group-limited top-k, optional
    renormalisation, expert_weights_scale, shared experts).
And moelab's two runtime knobs in every router: max_active_experts (cap the router's own
ranking at K) and expert_threshold (keep the smallest ranked prefix whose share of the
routing weight reaches P).

Usage:
    model = ReferenceModel("model.gguf")
    logits, active = model.forward([1, 2, 3], max_active_experts=None, expert_threshold=None)
    # logits: float64 [n_tokens, n_vocab]; active: per MoE layer, int [n_tokens] counts.
Everything is float64; every token attends causally to the tokens before it, positions
start at 0.
"""

import math

import numpy as np

try:
    from . import gguf_np
except ImportError:  # run as a plain script directory on sys.path
    import gguf_np

GATING_SOFTMAX = 1
GATING_SIGMOID = 2
GATING_SOFTMAX_WEIGHT = 3


def rms_norm(x, weight, eps):
    """x: [..., d]; weight: [d]."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


class Rope:
    """Rotary embedding as ggml computes it, for `n_rot` leading dims of each head.

    neox=False rotates adjacent pairs (x[2i], x[2i+1]); neox=True rotates (x[i],
    x[i + n_rot/2]). freq_divisors (rope_freqs) divide theta_i. YaRN blends the
    interpolated (theta/factor) and extrapolated frequencies with ggml's ramp.
    """

    def __init__(self, n_rot, base, neox, freq_divisors=None, freq_scale=1.0, yarn=None):
        self.n_rot = n_rot
        self.neox = neox
        i = np.arange(n_rot // 2, dtype=np.float64)
        theta = base ** (-2.0 * i / n_rot)  # [n_rot/2]
        if freq_divisors is not None:
            theta = theta / freq_divisors
        if yarn is not None:
            orig_ctx, beta_fast, beta_slow = yarn

            def corr_dim(n_rotations):
                return n_rot * math.log(orig_ctx / (n_rotations * 2 * math.pi)) / (
                    2 * math.log(base))

            low = max(0.0, math.floor(corr_dim(beta_fast)))
            high = min(n_rot - 1.0, math.ceil(corr_dim(beta_slow)))
            ramp = np.clip((i - low) / max(0.001, high - low), 0.0, 1.0)
            # ramp 0: extrapolate (keep theta); ramp 1: interpolate (theta * freq_scale).
            theta = theta * freq_scale * ramp + theta * (1.0 - ramp)
        else:
            theta = theta * freq_scale
        self.theta = theta

    def __call__(self, x, positions):
        """x: [n_tokens, n_heads, head_dim]; positions: [n_tokens]. Returns a rotated copy."""
        angles = np.asarray(positions, dtype=np.float64)[:, None] * self.theta[None, :]
        cos = np.cos(angles)[:, None, :]  # [n_tokens, 1, n_rot/2]
        sin = np.sin(angles)[:, None, :]
        out = np.array(x, dtype=np.float64, copy=True)
        half = self.n_rot // 2
        if self.neox:
            x0, x1 = x[..., :half], x[..., half:self.n_rot]
            out[..., :half] = x0 * cos - x1 * sin
            out[..., half:self.n_rot] = x0 * sin + x1 * cos
        else:
            x0, x1 = x[..., 0:self.n_rot:2], x[..., 1:self.n_rot:2]
            out[..., 0:self.n_rot:2] = x0 * cos - x1 * sin
            out[..., 1:self.n_rot:2] = x0 * sin + x1 * cos
        return out


def causal_attention(q, k, v, scale):
    """q: [T, H, dk]; k: [T, H, dk]; v: [T, H, dv] (kv already expanded to H heads).
    Returns [T, H, dv]."""
    scores = np.einsum("thd,shd->hts", q, k) * scale  # [H, T, T]
    n = q.shape[0]
    mask = np.triu(np.ones((n, n), dtype=bool), k=1)
    scores = np.where(mask[None], -np.inf, scores)
    probs = softmax(scores, axis=-1)
    return np.einsum("hts,shd->thd", probs, v)


class Router:
    """One MoE router variant (MODEL_MATH.md section 3) plus moelab's runtime knobs."""

    def __init__(self, n_expert, n_used, gating, renormalize, scale=1.0, n_group=1,
                 n_group_used=1):
        self.n_expert = n_expert
        self.n_used = n_used
        self.gating = gating
        self.renormalize = renormalize
        self.scale = scale
        self.n_group = n_group if n_group and n_group > 1 else 1
        self.n_group_used = n_group_used if self.n_group > 1 else 1

    def route(self, logits, bias=None, max_active_experts=None, expert_threshold=None):
        """logits: [T, n_expert] router outputs; bias: [n_expert] selection bias or None.
        Returns (ids [T] lists of expert ids, weights [T] lists of floats)."""
        if self.gating == GATING_SIGMOID:
            probs = sigmoid(logits)
        elif self.gating == GATING_SOFTMAX:
            probs = softmax(logits)
        elif self.gating == GATING_SOFTMAX_WEIGHT:
            probs = logits  # rank by logits, weights are a softmax over the chosen ones
        else:
            raise ValueError(f"unknown gating function {self.gating}")
        selection = probs + bias if bias is not None else probs.copy()
        cap = self.n_used
        if max_active_experts is not None:
            cap = max(1, min(cap, int(max_active_experts)))
        all_ids, all_weights = [], []
        for t in range(logits.shape[0]):
            sel = selection[t].copy()
            if self.n_group > 1 and self.n_group_used < self.n_group:
                groups = sel.reshape(self.n_group, -1)
                # Group score: sum of the group's top-2 selection scores (llama.cpp's rule).
                top2 = np.sort(groups, axis=1)[:, -2:].sum(axis=1)
                keep = np.argsort(-top2, kind="stable")[:self.n_group_used]
                masked = np.full_like(groups, -np.inf)
                masked[keep] = groups[keep]
                sel = masked.reshape(-1)
            ids = np.argsort(-sel, kind="stable")[:cap]
            if expert_threshold is not None:
                routing = self._weights(probs[t], ids, normalized=True)
                share = np.cumsum(routing)
                reached = np.nonzero(share >= float(expert_threshold))[0]
                m = int(reached[0]) + 1 if reached.size else len(ids)
                ids = ids[:max(1, min(m, len(ids)))]
            weights = self._weights(probs[t], ids, normalized=self.renormalize) * self.scale
            all_ids.append(ids)
            all_weights.append(weights)
        return all_ids, all_weights

    def _weights(self, probs, ids, normalized):
        """Weights of the chosen experts before scaling; `normalized` divides by their sum."""
        if self.gating == GATING_SOFTMAX_WEIGHT:
            return softmax(probs[ids])
        w = probs[ids]
        return w / np.sum(w) if normalized else w


class ReferenceModel:
    """A GGUF model held as its file; weights are dequantized to float64 on first use."""

    def __init__(self, path):
        self.gguf = gguf_np.GgufFile(path)
        self._cache = {}
        md = self.gguf.metadata
        self.arch = md["general.architecture"]
        if self.arch not in ("llama", "qwen2moe", "qwen3moe", "deepseek2"):
            raise ValueError(f"architecture {self.arch!r} is not supported by the reference")
        a = self.arch

        def key(name, default=None):
            return md.get(f"{a}.{name}", default)

        self.n_embd = int(key("embedding_length"))
        self.n_layer = int(key("block_count"))
        self.n_head = int(key("attention.head_count"))
        self.n_head_kv = int(key("attention.head_count_kv", self.n_head))
        self.eps = float(key("attention.layer_norm_rms_epsilon", 1e-5))
        self.rope_base = float(key("rope.freq_base", 10000.0))
        self.n_expert = int(key("expert_count", 0))
        self.n_expert_used = int(key("expert_used_count", 0))
        self.head_dim = int(key("attention.key_length", self.n_embd // self.n_head))
        self.n_rot = int(key("rope.dimension_count", self.head_dim))
        self.n_layer_dense_lead = int(key("leading_dense_block_count", 0))

        scaling = key("rope.scaling.type", "none")
        factor = float(key("rope.scaling.factor", 1.0) or 1.0)
        freq_scale = 1.0 / factor if scaling in ("linear", "yarn") and factor > 0 else 1.0
        yarn = None
        self.mla_mscale = 1.0
        if scaling == "yarn":
            if a != "deepseek2":
                raise ValueError("YaRN is only implemented for deepseek2 in the reference")
            yarn = (float(key("rope.scaling.original_context_length")),
                    float(key("rope.scaling.yarn_beta_fast", 32.0)),
                    float(key("rope.scaling.yarn_beta_slow", 1.0)))
            # The cos/sin factor is 1 net; the attention scale takes mscale^2, with
            # mscale = 1 + yarn_log_multiplier * ln(factor).
            log_mul = float(key("rope.scaling.yarn_log_multiplier", 0.0))
            self.mla_mscale = 1.0 + log_mul * math.log(factor)
        elif scaling not in ("none", "linear"):
            raise ValueError(f"rope scaling {scaling!r} is not supported by the reference")

        divisors = self.w("rope_freqs.weight") if self.has("rope_freqs.weight") else None
        if a == "deepseek2":
            self.n_rot = int(key("rope.dimension_count"))
            self.kv_lora_rank = int(key("attention.kv_lora_rank"))
            self.q_lora_rank = int(key("attention.q_lora_rank", 0))
            # Head sizes from the tensor shapes (the keys differ between MLA-KV files,
            # which carry key_length_mla, and legacy ones); the keys must agree with them.
            q_name = "blk.0.attn_q_b.weight" if self.has("blk.0.attn_q_b.weight") \
                else "blk.0.attn_q.weight"
            qk_head = self.gguf.tensors[q_name].ne[1] // self.n_head
            self.v_head_dim = self.gguf.tensors["blk.0.attn_output.weight"].ne[0] // self.n_head
            self.nope_dim = qk_head - self.n_rot
            legacy = self.has("blk.0.attn_kv_b.weight") and not key("attention.key_length_mla")
            want_k = key("attention.key_length_mla", key("attention.key_length") if legacy
                         else None)
            want_v = key("attention.value_length_mla", key("attention.value_length") if legacy
                         else None)
            if (want_k is not None and int(want_k) != qk_head) or \
                    (want_v is not None and int(want_v) != self.v_head_dim):
                raise ValueError(f"{path}: head sizes from tensors (qk {qk_head}, v "
                                 f"{self.v_head_dim}) disagree with the keys ({want_k}, {want_v})")
            self.rope = Rope(self.n_rot, self.rope_base, neox=False,
                             freq_divisors=divisors, freq_scale=freq_scale, yarn=yarn)
        else:
            neox = a in ("qwen2moe", "qwen3moe")
            self.rope = Rope(self.n_rot, self.rope_base, neox=neox,
                             freq_divisors=divisors, freq_scale=freq_scale)

        # The router each architecture uses (MODEL_MATH.md section 3).
        if self.n_expert > 0:
            if a == "llama":
                self.router = Router(self.n_expert, self.n_expert_used, GATING_SOFTMAX, True)
            elif a == "qwen2moe":
                self.router = Router(self.n_expert, self.n_expert_used, GATING_SOFTMAX, False)
            elif a == "qwen3moe":
                self.router = Router(self.n_expert, self.n_expert_used, GATING_SOFTMAX, True)
            else:
                scale = float(key("expert_weights_scale", 1.0))
                self.router = Router(
                    self.n_expert, self.n_expert_used,
                    int(key("expert_gating_func", GATING_SOFTMAX)),
                    bool(key("expert_weights_norm", False)),
                    scale=scale if scale != 0.0 else 1.0,
                    n_group=int(key("expert_group_count", 1)),
                    n_group_used=int(key("expert_group_used_count", 1)))
        else:
            self.router = None

    # --- weights ---------------------------------------------------------------------------

    def has(self, name):
        return name in self.gguf.tensors

    def w(self, name):
        """Tensor `name` as float64, numpy shape = reversed ggml ne ([out, in] for matrices)."""
        if name not in self._cache:
            if name not in self.gguf.tensors:
                raise KeyError(f"{self.gguf.path}: tensor {name} is missing")
            self._cache[name] = self.gguf.tensor(name)
        return self._cache[name]

    def opt(self, name):
        return self.w(name) if self.has(name) else None

    def linear(self, x, name, bias_name=None):
        """x: [T, in] -> [T, out] with weight `name` [out, in] and an optional bias."""
        y = x @ self.w(name).T
        if bias_name is not None and self.has(bias_name):
            y = y + self.w(bias_name)
        return y

    # --- forward ---------------------------------------------------------------------------

    def forward(self, tokens, max_active_experts=None, expert_threshold=None,
                kv_cache_type="f32"):
        """Logits [T, n_vocab] and the active experts per MoE layer. kv_cache_type "f16"
        rounds what a KV cache holds (GQA: roped k and v; MLA: the normed latent c and the
        roped k_pe) to IEEE half before attention reads it, as an f16 cache does."""
        if kv_cache_type not in ("f32", "f16"):
            raise ValueError(f"kv_cache_type must be f32 or f16, not {kv_cache_type!r}")
        self._cached = (lambda a: a.astype(np.float16).astype(a.dtype)) \
            if kv_cache_type == "f16" else (lambda a: a)
        tokens = np.asarray(tokens, dtype=np.int64)
        embd = self.w("token_embd.weight")  # [n_vocab, n_embd]
        if tokens.min() < 0 or tokens.max() >= embd.shape[0]:
            raise ValueError(f"token ids must lie in [0, {embd.shape[0]})")
        positions = np.arange(len(tokens))
        x = embd[tokens]  # [T, n_embd]
        active = []
        for il in range(self.n_layer):
            p = f"blk.{il}."
            h = rms_norm(x, self.w(p + "attn_norm.weight"), self.eps)
            if self.arch == "deepseek2":
                x = x + self._mla(p, h, positions)
            else:
                x = x + self._gqa(p, h, positions)
            h = rms_norm(x, self.w(p + "ffn_norm.weight"), self.eps)
            if self.has(p + "ffn_gate_inp.weight"):
                y, counts = self._moe(p, h, max_active_experts, expert_threshold)
                active.append(counts)
            else:
                y = self._ffn(p, h, "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight")
            x = x + y
        x = rms_norm(x, self.w("output_norm.weight"), self.eps)
        out = self.w("output.weight") if self.has("output.weight") else embd
        return x @ out.T, active

    def _gqa(self, p, h, positions):
        """Grouped-query attention (llama, qwen2moe, qwen3moe). h: [T, n_embd]."""
        n_tok = h.shape[0]
        q = self.linear(h, p + "attn_q.weight", p + "attn_q.bias")
        k = self.linear(h, p + "attn_k.weight", p + "attn_k.bias")
        v = self.linear(h, p + "attn_v.weight", p + "attn_v.bias")
        q = q.reshape(n_tok, self.n_head, self.head_dim)
        k = k.reshape(n_tok, self.n_head_kv, self.head_dim)
        v = v.reshape(n_tok, self.n_head_kv, -1)
        if self.has(p + "attn_q_norm.weight"):
            q = rms_norm(q, self.w(p + "attn_q_norm.weight"), self.eps)
            k = rms_norm(k, self.w(p + "attn_k_norm.weight"), self.eps)
        q = self.rope(q, positions)
        k = self._cached(self.rope(k, positions))
        v = self._cached(v)
        group = self.n_head // self.n_head_kv  # query head j reads kv head j // group
        k = np.repeat(k, group, axis=1)
        v = np.repeat(v, group, axis=1)
        o = causal_attention(q, k, v, 1.0 / math.sqrt(self.head_dim))
        return self.linear(o.reshape(n_tok, -1), p + "attn_output.weight",
                           p + "attn_output.bias")

    def _mla(self, p, h, positions):
        """DeepSeek multi-head latent attention, decompressed. h: [T, n_embd]."""
        n_tok, n_head = h.shape[0], self.n_head
        nope, rope, kv_lora = self.nope_dim, self.n_rot, self.kv_lora_rank
        if self.has(p + "attn_q_a.weight"):
            c_q = rms_norm(self.linear(h, p + "attn_q_a.weight"),
                           self.w(p + "attn_q_a_norm.weight"), self.eps)
            q = self.linear(c_q, p + "attn_q_b.weight")
        else:
            q = self.linear(h, p + "attn_q.weight")
        q = q.reshape(n_tok, n_head, nope + rope)  # each head is [nope | rope]
        kv_a = self.linear(h, p + "attn_kv_a_mqa.weight")  # [T, kv_lora + rope]
        c_kv = rms_norm(kv_a[:, :kv_lora], self.w(p + "attn_kv_a_norm.weight"), self.eps)
        k_pe = kv_a[:, None, kv_lora:]  # [T, 1, rope], shared by all heads, not normed
        q_pe = self.rope(q[:, :, nope:], positions)
        k_pe = self._cached(self.rope(k_pe, positions))
        c_kv = self._cached(c_kv)
        if self.has(p + "attn_k_b.weight"):
            w_uk = self.w(p + "attn_k_b.weight")  # [H, kv_lora, nope]
            w_uv = self.w(p + "attn_v_b.weight")  # [H, v_dim, kv_lora]
            k_nope = np.einsum("tc,hcd->thd", c_kv, w_uk)
        else:
            kv_b = self.w(p + "attn_kv_b.weight").reshape(n_head, nope + self.v_head_dim,
                                                          kv_lora)
            w_uk, w_uv = kv_b[:, :nope, :], kv_b[:, nope:, :]  # [H, nope|v, kv_lora]
            k_nope = np.einsum("tc,hdc->thd", c_kv, w_uk)
        v = np.einsum("tc,hdc->thd", c_kv, w_uv)  # [T, H, v_dim]
        q_full = np.concatenate([q[:, :, :nope], q_pe], axis=-1)
        k_full = np.concatenate([k_nope, np.repeat(k_pe, n_head, axis=1)], axis=-1)
        scale = self.mla_mscale ** 2 / math.sqrt(nope + rope)
        o = causal_attention(q_full, k_full, v, scale)
        return self.linear(o.reshape(n_tok, -1), p + "attn_output.weight")

    def _ffn(self, p, h, gate, up, down):
        """SwiGLU: W_down (silu(W_gate h) * W_up h). h: [T, n_embd]."""
        return self.linear(silu(self.linear(h, p + gate)) * self.linear(h, p + up), p + down)

    def _moe(self, p, h, max_active_experts, expert_threshold):
        """Routed experts (+ shared experts). h: [T, n_embd] -> ([T, n_embd], counts [T])."""
        logits = self.linear(h, p + "ffn_gate_inp.weight")  # [T, n_expert]
        bias = self.opt(p + "exp_probs_b.bias")
        ids, weights = self.router.route(logits, bias, max_active_experts, expert_threshold)
        gate_e = self.w(p + "ffn_gate_exps.weight")  # [n_expert, n_ff_exp, n_embd]
        up_e = self.w(p + "ffn_up_exps.weight")  # [n_expert, n_ff_exp, n_embd]
        down_e = self.w(p + "ffn_down_exps.weight")  # [n_expert, n_embd, n_ff_exp]
        y = np.zeros_like(h)
        for t in range(h.shape[0]):
            for e, wt in zip(ids[t], weights[t]):
                a = silu(gate_e[e] @ h[t]) * (up_e[e] @ h[t])
                y[t] += wt * (down_e[e] @ a)
        if self.has(p + "ffn_gate_shexp.weight"):
            shared = self._ffn(p, h, "ffn_gate_shexp.weight", "ffn_up_shexp.weight",
                               "ffn_down_shexp.weight")
            if self.has(p + "ffn_gate_inp_shexp.weight"):  # qwen2moe: sigmoid gate
                shared = shared * sigmoid(h @ self.w(p + "ffn_gate_inp_shexp.weight"))[:, None]
            y = y + shared
        return y, np.array([len(i) for i in ids], dtype=np.int64)


def reference_logits(path, tokens, max_active_experts=None, expert_threshold=None):
    """Convenience: float64 logits [n_tokens, n_vocab] of the GGUF at `path` for `tokens`."""
    logits, _ = ReferenceModel(path).forward(tokens, max_active_experts, expert_threshold)
    return logits


def main(argv=None):
    """Command line: write the reference logits of a GGUF for a token list, float32
    little-endian [n_tokens][n_vocab], the format of `moelab logits --all -o FILE`."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model", help="GGUF file")
    parser.add_argument("--tokens", required=True, help="comma-separated token ids")
    parser.add_argument("-o", "--output", required=True, help="logits file to write")
    parser.add_argument("--max-active-experts", type=int, default=None)
    parser.add_argument("--expert-threshold", type=float, default=None)
    args = parser.parse_args(argv)
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    logits, active = ReferenceModel(args.model).forward(tokens, args.max_active_experts,
                                                        args.expert_threshold)
    logits.astype("<f4").tofile(args.output)
    for il, counts in enumerate(active):
        print(f"moe layer {il}: active experts per token {counts.tolist()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
