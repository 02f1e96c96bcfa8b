"""End-to-end test of `moelab compare` and `moelab advise`.

Runs compare on the built-in pair's layout made small (r1-demo and v3-demo in
q4_0, tiny settings) and checks that the report's figures are measured and
consistent with each other and with the files' arithmetic, that report.json
names the fields scripts rely on, that the SVG charts and the HTML are
well-formed XML (and render in headless Chromium when it is installed), and
that advise reads the report back. No timing is asserted.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

MOELAB = os.environ["MOELAB"]
WORK = os.environ.get("MOELAB_WORK_DIR") or tempfile.mkdtemp()
DIR = os.path.join(WORK, "compare")
os.makedirs(DIR, exist_ok=True)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    p = subprocess.run([MOELAB, *args], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        sys.exit(f"moelab {' '.join(args)} failed with {p.returncode}")
    return p.stdout


def model(preset):
    path = os.path.join(DIR, f"{preset}-q4_0.gguf")
    if not os.path.exists(path):
        run("make-model", "--preset", preset, "--type", "q4_0", "-o", path + ".part")
        os.replace(path + ".part", path)
    return path


moe, dense = model("r1-demo"), model("v3-demo")
out = os.path.join(DIR, "report")
shutil.rmtree(out, ignore_errors=True)
stdout = run("compare", moe, dense, "--gen", "32", "--prompt-len", "16", "--concurrency", "1,2",
             "--concurrency-gen", "8", "--concurrency-prompt-len", "8", "--contexts", "16,64",
             "--context-gen", "4", "--max-active-experts", "3", "--memory", "1GiB", "--out", out,
             "--json", "-t", "2")
report = json.loads(stdout)
with open(os.path.join(out, "report.json")) as f:
    check(json.load(f) == report, "report.json equals the --json output")

profiles = report["profiles"]
check(len(profiles) == 3, "A, B and the capped MoE variant")
for key in ["ttft", "tpot", "latency_1024", "throughput", "memory", "active_experts", "bytes_per_token"]:
    for p in profiles:
        check(key in p, f"{p['label']}: report.json names {key}")
check(report["options"]["concurrency"] == [1, 2], "options.concurrency")

a, b, capped = profiles
check(a["moe"] and not b["moe"] and capped["moe"], "A is the MoE, B dense")
for p in profiles:
    name = p["label"]
    for value, what in [(p["ttft"]["ms"], "ttft"), (p["tpot"]["mean_ms"], "tpot"),
                        (p["tpot"]["p95_ms"], "tpot p95"), (p["latency_1024"]["p50_ms"], "latency p50"),
                        (p["latency_1024"]["p95_ms"], "latency p95"), (p["decode_tokens_per_s"], "decode tok/s"),
                        (p["memory"]["peak_rss_bytes"], "peak rss"), (p["memory"]["kv_bytes"], "kv bytes"),
                        (p["kv_bytes_per_token"], "kv per token"), (p["weight_bytes"], "weights")]:
        check(value > 0, f"{name}: {what} is positive ({value})")
    check(p["latency_1024"]["gen_tokens"] == 32, f"{name}: latency run length")
    check([t["concurrency"] for t in p["throughput"]] == [1, 2], f"{name}: one point per concurrency")
    for t in p["throughput"]:
        for k in ["output_tokens_per_s", "bytes_per_token", "bytes_per_step", "tpot_ms"]:
            check(t[k] > 0, f"{name}: throughput[{t['concurrency']}].{k} is positive")
    check([c["context"] for c in p["context"]] == [16, 64], f"{name}: one point per context")
    # The same run gives both figures: they must be inverse to each other.
    check(abs(p["decode_tokens_per_s"] * p["tpot"]["mean_ms"] / 1000 - 1) < 1e-6,
          f"{name}: decode tok/s = 1/TPOT")
    # A separate run at concurrency 1 measures the same speed; on a shared
    # machine running tests in parallel the two can differ by any factor, so
    # the ratio is printed, never asserted (timings decide no test).
    ratio = p["throughput"][0]["output_tokens_per_s"] * p["tpot"]["mean_ms"] / 1000
    print(f"{name}: concurrency-1 throughput x TPOT = {ratio:.2f} (1 on a quiet machine)")
    check(p["memory"]["peak_rss_bytes"] >= p["memory"]["weights_bytes"], f"{name}: peak memory >= weights")
    check(p["memory"]["weights_bytes"] == p["weight_bytes"], f"{name}: the memory split counts the weights")
    check(p["weight_bytes"] < os.path.getsize(p["path"]), f"{name}: tensor bytes fit in the file")
    # One sequence: every decode step reads exactly one token's share of the file.
    measured, arith = p["bytes_per_token"]["measured_concurrency_1"], p["bytes_per_token"]["file_arithmetic"]
    check(abs(measured / arith - 1) < 0.01, f"{name}: bytes per token at concurrency 1 {measured} vs file {arith}")
    check(p["budget"]["max_context"] > 0 and p["budget"]["max_batch"] > 0, f"{name}: fits in 1 GiB")
    check(p["long_context_recall"] is None and p["accuracy"] is None, f"{name}: evaluation rows kept, not measured")

check(a["throughput"][0]["bytes_per_token"] < b["throughput"][0]["bytes_per_token"],
      "the MoE model reads fewer bytes per decoded token than the dense one at concurrency 1")
check(abs(a["active_experts"]["avg_per_token"] - a["n_expert_used"]) < 1e-9, "MoE uses its k experts per token")
check(capped["max_active_experts"] == 3 and capped["active_experts"]["avg_per_token"] <= 3 + 1e-9,
      "the capped variant uses at most 3 experts per token")
check(capped["bytes_per_token"]["measured_concurrency_1"] < a["bytes_per_token"]["measured_concurrency_1"],
      "capping experts reads fewer bytes per token")
# More sequences per step choose more distinct experts: bytes per step grow for the MoE, not for dense.
check(a["throughput"][1]["distinct_experts_per_layer"] >= a["throughput"][0]["distinct_experts_per_layer"],
      "distinct experts per step grow with concurrency")
check(a["throughput"][1]["bytes_per_step"] >= a["throughput"][0]["bytes_per_step"], "MoE bytes per step grow")
check(abs(b["throughput"][1]["bytes_per_step"] / b["throughput"][0]["bytes_per_step"] - 1) < 1e-9,
      "dense bytes per step do not depend on concurrency")
check(abs(sum(a["active_experts"]["load"]) - 1) < 1e-6, "expert load shares sum to 1")

# Charts and page: well-formed XML, four charts in the page.
svg_ns = "{http://www.w3.org/2000/svg}"
for name in ["throughput.svg", "context_latency.svg", "memory.svg", "expert_load.svg"]:
    root = ET.parse(os.path.join(out, name)).getroot()
    check(root.tag == svg_ns + "svg", f"{name} is an SVG document")
    check(len(list(root.iter(svg_ns + "polyline"))) + len(list(root.iter(svg_ns + "rect"))) > 2,
          f"{name} draws something")
html = ET.parse(os.path.join(out, "report.html")).getroot()
check(len(list(html.iter(svg_ns + "svg"))) == 4, "report.html holds four charts")
md = open(os.path.join(out, "report.md")).read()
check("not measured" in md and "B/A" in md, "report.md has the ratio column and the not-measured rows")

chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if chromium:
    png = os.path.join(out, "report.png")
    profile = tempfile.mkdtemp(prefix="moelab-chromium-")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
                    "--window-size=1200,2400", "file://" + os.path.join(out, "report.html")],
                   capture_output=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    check(os.path.exists(png) and os.path.getsize(png) > 10000, "headless Chromium renders report.html")
else:
    print("chromium not installed: rendering check skipped (XML well-formedness checked)")

# The table view prints the ratio column.
table = run("compare", moe, dense, "--gen", "4", "--prompt-len", "4", "--concurrency", "1",
            "--concurrency-gen", "2", "--concurrency-prompt-len", "2", "--contexts", "8", "--context-gen", "2",
            "--out", os.path.join(DIR, "report2"), "-t", "2")
check("B/A" in table and "time to first token" in table, "the terminal table has B/A")

# advise reads the measured profiles back.
advice = json.loads(run("advise", "--memory", "1GiB", "--profile", os.path.join(out, "report.json"), "--json"))
check(advice["found"] and advice["choice"]["model"] in ("r1-demo-q4_0", "v3-demo-q4_0"), "advise picks a model")
advice = json.loads(run("advise", "--memory", "10MiB", "--profile", os.path.join(out, "report.json"), "--json"))
check(not advice["found"] and "Neither" in advice["reasons"][0], "advise: neither fits 10 MiB")
# From the files' arithmetic: weights alone decide a tight budget.
dense_need = b["weight_bytes"] + 256 * b["kv_bytes_per_token"]
moe_need = a["weight_bytes"] + 256 * a["kv_bytes_per_token"]
check(dense_need < moe_need, "precondition: the dense model needs less memory")
between = (dense_need + moe_need) // 2
advice = json.loads(run("advise", "--memory", str(between), "--context", "256", "--bandwidth-gbs", "10",
                        moe, dense, "--json"))
check(advice["found"] and advice["choice"]["model"] == "v3-demo-q4_0",
      f"advise on arithmetic: only the dense model fits {between} bytes")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("ok")
