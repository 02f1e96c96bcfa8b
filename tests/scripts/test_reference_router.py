#!/usr/bin/env python3
"""Checks the numpy reference's MoE routers and moelab's two knobs on hand-derived cases.

Each case gives router logits whose softmax/sigmoid values are round numbers, so the chosen
experts and weights below were worked out by hand from MODEL_MATH.md section 3 and the
knob definitions (max_active_experts caps the router's own ranking; expert_threshold keeps
the smallest ranked prefix whose share of the routing weight reaches P). Also checks knob
properties on the oracle MoE models. Exits 1 on any failure.
"""

import os
import sys

import numpy as np  # Debian's python3-numpy; ctest starts us with /usr/bin/python3

import json
import pathlib

SOURCE_DIR = pathlib.Path(os.environ.get("MOELAB_SOURCE_DIR")
                          or pathlib.Path(__file__).resolve().parents[2])
sys.dont_write_bytecode = True  # importing the reference must not write into the tree
sys.path.insert(0, str(SOURCE_DIR / "tests" / "reference"))

import model_np  # noqa: E402
from model_np import GATING_SIGMOID, GATING_SOFTMAX, GATING_SOFTMAX_WEIGHT, Router  # noqa

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def expect_route(what, router, logits, want_ids, want_weights, bias=None, **knobs):
    ids, weights = router.route(np.array([logits], dtype=np.float64),
                                None if bias is None else np.array(bias, dtype=np.float64),
                                **knobs)
    got_ids, got_w = list(map(int, ids[0])), list(map(float, weights[0]))
    ok = got_ids == want_ids and np.allclose(got_w, want_weights, rtol=1e-12, atol=1e-12)
    check(ok, f"{what}: ids {got_ids} weights {np.round(got_w, 6).tolist()}"
              + ("" if ok else f" (want {want_ids} {want_weights})"))


def logit(s):
    s = np.asarray(s, dtype=np.float64)
    return np.log(s / (1 - s))


def test_hand_routers():
    # Softmax probabilities [1, 2, 4, 1] / 8.
    z = np.log([1.0, 2.0, 4.0, 1.0])
    mixtral = Router(4, 2, GATING_SOFTMAX, renormalize=True)
    expect_route("mixtral top-2 renormalised", mixtral, z, [2, 1], [4 / 6, 2 / 6])
    expect_route("mixtral K=1", mixtral, z, [2], [1.0], max_active_experts=1)
    expect_route("mixtral K=5 is capped at 2", mixtral, z, [2, 1], [4 / 6, 2 / 6],
                 max_active_experts=5)
    expect_route("mixtral P=0.6 (share 4/6 reaches it)", mixtral, z, [2], [1.0],
                 expert_threshold=0.6)
    expect_route("mixtral P=0.7", mixtral, z, [2, 1], [4 / 6, 2 / 6], expert_threshold=0.7)
    expect_route("mixtral P=1.0", mixtral, z, [2, 1], [4 / 6, 2 / 6], expert_threshold=1.0)

    qwen2 = Router(4, 2, GATING_SOFTMAX, renormalize=False)
    expect_route("qwen2moe top-2 raw softmax", qwen2, z, [2, 1], [0.5, 0.25])
    expect_route("qwen2moe K=1 keeps the raw prob", qwen2, z, [2], [0.5], max_active_experts=1)
    expect_route("qwen2moe P=0.6 (share 0.5/0.75)", qwen2, z, [2], [0.5], expert_threshold=0.6)
    expect_route("qwen2moe P=0.7", qwen2, z, [2, 1], [0.5, 0.25], expert_threshold=0.7)
    three = Router(4, 3, GATING_SOFTMAX, renormalize=False)
    expect_route("qwen2moe top-3, K=2 then P=0.8 (shares 4/7, 6/7)", three, z, [2, 1],
                 [0.5, 0.25], max_active_experts=2, expert_threshold=0.8)
    expect_route("qwen2moe top-3, P=0.9 (shares 4/7, 6/7, 7/7)", three, z, [2, 1, 0],
                 [0.5, 0.25, 0.125], expert_threshold=0.9)

    deepseek_v2 = Router(4, 2, GATING_SOFTMAX, renormalize=False, scale=16.0)
    expect_route("deepseek V2 softmax x16, no renormalisation", deepseek_v2, z, [2, 1],
                 [8.0, 4.0])

    sw = Router(4, 2, GATING_SOFTMAX_WEIGHT, renormalize=False)
    expect_route("softmax_weight: softmax over the chosen logits", sw, z, [2, 1],
                 [4 / 6, 2 / 6])

    # DeepSeek-V3: sigmoid scores s, bias moves expert 4 up; 4 groups of 2, keep 2.
    # s' = s + b = [.9 .1 | .6 .55 | .8 .5 | .2 .8]: group sums 1.0, 1.15, 1.3, 1.0 -> keep
    # groups 2 and 1; top-2 of s' there = experts 4 (.8), 2 (.6). Expert 0 (.9) is masked.
    s = [0.9, 0.1, 0.6, 0.55, 0.5, 0.5, 0.2, 0.8]
    b = [0, 0, 0, 0, 0.3, 0, 0, 0]
    v3 = Router(8, 2, GATING_SIGMOID, renormalize=True, scale=2.5, n_group=4, n_group_used=2)
    w4, w2 = 0.5 / 1.1 * 2.5, 0.6 / 1.1 * 2.5
    expect_route("V3 bias + group limit, weights from unbiased s, x2.5", v3, logit(s), [4, 2],
                 [w4, w2], bias=b)
    expect_route("V3 K=1 (ranked by biased score)", v3, logit(s), [4], [2.5], bias=b,
                 max_active_experts=1)
    expect_route("V3 P=0.4 (share of expert 4 = 0.5/1.1)", v3, logit(s), [4], [2.5], bias=b,
                 expert_threshold=0.4)
    expect_route("V3 P=0.5", v3, logit(s), [4, 2], [w4, w2], bias=b, expert_threshold=0.5)
    no_groups = Router(8, 2, GATING_SIGMOID, renormalize=True, scale=2.5)
    expect_route("V3 without group limit picks expert 0", no_groups, logit(s), [0, 4],
                 [0.9 / 1.4 * 2.5, 0.5 / 1.4 * 2.5], bias=b)
    # Group score is the sum of the top 2, not the max: group A = [.9 .1 .1 .1] (max .9,
    # top-2 sum 1.0), group B = [.6 .55 .1 .1] (max .6, sum 1.15); keep 1 group -> B.
    s2 = [0.9, 0.1, 0.1, 0.1, 0.6, 0.55, 0.1, 0.1]
    top2 = Router(8, 2, GATING_SIGMOID, renormalize=True, scale=1.0, n_group=2, n_group_used=1)
    expect_route("group score = sum of top-2", top2, logit(s2), [4, 5],
                 [0.6 / 1.15, 0.55 / 1.15])


def test_oracle_knobs():
    oracle = SOURCE_DIR / "tests" / "data" / "oracle"
    for stem in ("mixtral-moe", "qwen2moe", "qwen3moe", "deepseek-v3"):
        case = json.loads((oracle / (stem + ".json")).read_text())
        model = model_np.ReferenceModel(oracle / case["model"])
        tokens = case["tokens"][:12]
        k = model.n_expert_used
        base, active = model.forward(tokens)
        check(all((a == k).all() for a in active), f"{stem}: default uses {k} experts/token")
        capped, _ = model.forward(tokens, max_active_experts=k)
        check(np.array_equal(base, capped), f"{stem}: K = expert_used_count changes nothing")
        full, _ = model.forward(tokens, expert_threshold=1.0)
        check(np.array_equal(base, full), f"{stem}: P = 1.0 changes nothing")
        _, one = model.forward(tokens, max_active_experts=1)
        check(all((a == 1).all() for a in one), f"{stem}: K = 1 uses one expert/token")
        counts = []
        for p in (0.3, 0.7, 1.0):
            _, act = model.forward(tokens, expert_threshold=p)
            counts.append(np.concatenate(act))
        monotone = all((counts[i] <= counts[i + 1]).all() for i in range(2))
        in_range = all(((c >= 1) & (c <= k)).all() for c in counts)
        check(monotone and in_range,
              f"{stem}: threshold counts in [1, {k}] and growing with P "
              f"(means {[round(float(c.mean()), 2) for c in counts]})")


def main():
    test_hand_routers()
    test_oracle_knobs()
    if FAILURES:
        print(f"FAILED {len(FAILURES)}: " + "; ".join(FAILURES))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
