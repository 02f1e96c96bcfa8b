#!/usr/bin/env bash
# End-to-end checks of the moelab command line: the real binary on real files.
# Each check prints one line; the script fails on the first broken one.
set -euo pipefail
: "${MOELAB:?MOELAB must name the moelab binary}"
SRC=${MOELAB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
WORK=${MOELAB_WORK_DIR:-$(mktemp -d)}/cli
ORACLE=$SRC/tests/data/oracle
PY=/usr/bin/python3; [[ -x $PY ]] || PY=python3
mkdir -p "$WORK"
pass=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
die() { echo "FAIL $*" >&2; exit 1; }

# Every subcommand has --help.
for cmd in run logits tokenize detokenize info make-model template; do
  "$MOELAB" "$cmd" --help >/dev/null || die "$cmd --help"
done
ok "every subcommand has --help"

# logits through the CLI match llama.cpp's oracle file (F32 case, all positions).
for name in llama-dense deepseek-v3; do
  tokens=$($PY -c "import json;print(','.join(map(str,json.load(open('$ORACLE/$name.json'))['tokens'])))")
  "$MOELAB" logits "$ORACLE/$name.gguf" --tokens "$tokens" --all -o "$WORK/$name.f32" 2>/dev/null
  $PY - "$WORK/$name.f32" "$ORACLE/$name.logits.f32" <<'PYEOF'
import sys, numpy as np
a = np.fromfile(sys.argv[1], dtype='<f4'); b = np.fromfile(sys.argv[2], dtype='<f4')
assert a.shape == b.shape, (a.shape, b.shape)
d = float(np.abs(a - b).max()); assert d < 1e-4, d
PYEOF
  ok "logits --all of $name match llama.cpp"
done

# Greedy generation reproduces llama.cpp's greedy_16 for the F32 oracle cases.
for name in llama-dense mixtral-moe qwen2moe qwen3moe deepseek-v3 deepseek-v3-yarn; do
  $PY - "$MOELAB" "$ORACLE/$name" <<'PYEOF'
import json, subprocess, sys
moelab, base = sys.argv[1], sys.argv[2]
case = json.load(open(base + ".json"))
toks = case["tokens"]; want = case["greedy_16"]
got = []
for _ in range(16):
    out = subprocess.run([moelab, "logits", base + ".gguf", "--tokens", ",".join(map(str, toks + got)),
                          "-o", "/dev/stdout"], capture_output=True, check=True).stdout
    import numpy as np
    got.append(int(np.frombuffer(out, dtype="<f4").argmax()))
assert got == want, (got, want)
PYEOF
  ok "greedy_16 of $name reproduced"
done

# make-model, info, run on every tiny preset; run streams text and reports speed.
for preset in $("$MOELAB" make-model --list | awk '/^tiny-/{print $1}'); do
  "$MOELAB" make-model --preset "$preset" -o "$WORK/$preset.gguf" 2>/dev/null
  "$MOELAB" info "$WORK/$preset.gguf" --json | $PY -c "import json,sys; j=json.load(sys.stdin); assert j['params_total']>0 and j['kv_bytes_per_token']>0"
  out=$("$MOELAB" run "$WORK/$preset.gguf" -p "Hello world" -n 8 --temp 0 2>"$WORK/err.txt")
  [[ $out == "Hello world"* ]] || die "run $preset: output does not start with the prompt"
  grep -q "tokens/s" "$WORK/err.txt" || die "run $preset: no speed line"
  ok "make-model/info/run $preset"
done

# MLA: KV bytes per token are the latent width only.
kv=$("$MOELAB" info "$ORACLE/deepseek-v3.gguf" --json | $PY -c "import json,sys; print(json.load(sys.stdin)['kv_bytes_per_token'])")
[[ $kv == $(( 3 * (32 + 16) * 4 )) ]] || die "deepseek-v3 kv_bytes_per_token = $kv, want 3 layers x (32+16) x 4"
ok "MLA KV bytes per token = layers x (kv_lora + rope) x 4"

# --kv-type f16: half the cache bytes in info; run and serve's engine use it.
kv16=$("$MOELAB" info "$ORACLE/deepseek-v3.gguf" --json | $PY -c "import json,sys; print(json.load(sys.stdin)['kv_bytes_per_token_f16'])")
[[ $kv16 == $(( kv / 2 )) ]] || die "deepseek-v3 kv_bytes_per_token_f16 = $kv16, want $(( kv / 2 ))"
"$MOELAB" run "$ORACLE/qwen3moe.gguf" -p "abc" -n 4 --temp 0 --kv-type f16 >"$WORK/f16.txt" 2>/dev/null
[[ -s $WORK/f16.txt ]] || die "run --kv-type f16 printed nothing"
ok "--kv-type f16: half the KV bytes per token, run generates"
set +e; "$MOELAB" run "$ORACLE/qwen3moe.gguf" -p hi --kv-type q8_0 >/dev/null 2>"$WORK/err.txt"; rc=$?; set -e
[[ $rc -ne 0 && $rc -lt 128 ]] && grep -q "kv-type: q8_0 not in {f32,f16}" "$WORK/err.txt" || die "--kv-type q8_0: rc $rc, $(cat "$WORK/err.txt")"
ok "--kv-type q8_0 is refused, naming the choices"

# --expert-stats writes JSON with per-layer counts.
"$MOELAB" run "$ORACLE/deepseek-v3.gguf" -p "abc" -n 4 --temp 0 --max-active-experts 2 --expert-stats "$WORK/stats.json" >/dev/null 2>"$WORK/err.txt"
$PY -c "import json; j=json.load(open('$WORK/stats.json')); assert abs(j['avg_active_experts']-2)<1e-9; assert len(j['layers'])==2"
grep -q "active experts per token" "$WORK/err.txt" || die "no expert stats summary"
ok "--expert-stats summary and JSON"

# tokenize / detokenize round trip.
ids=$("$MOELAB" tokenize "$ORACLE/llama-dense.gguf" "Hello, world")
text=$("$MOELAB" detokenize "$ORACLE/llama-dense.gguf" "$ids")
[[ $text == "Hello, world" ]] || die "detokenize(tokenize(x)) = '$text'"
ok "tokenize/detokenize round trip"

# template: ChatML fallback with a note on stderr, the prompt alone on stdout.
echo '[{"role":"user","content":"hi"}]' >"$WORK/msgs.json"
"$MOELAB" template "$ORACLE/llama-dense.gguf" --messages "$WORK/msgs.json" --add-generation-prompt >"$WORK/t.txt" 2>"$WORK/err.txt"
[[ $(cat "$WORK/t.txt") == $'<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant' ]] || die "ChatML render: $(cat "$WORK/t.txt")"
grep -qi chatml "$WORK/err.txt" || die "no ChatML note"
ok "template falls back to ChatML"

# run --chat renders the turn through the template (ChatML here: the model has
# none) before tokenizing: the prompt length equals the rendered text's.
echo '[{"role":"user","content":"Hello there"}]' >"$WORK/chat.json"
rendered=$("$MOELAB" template "$WORK/tiny-llama.gguf" --messages "$WORK/chat.json" --add-generation-prompt 2>/dev/null; echo x)
rendered=${rendered%x}  # keep the trailing newline that $(...) would strip
n_rendered=$("$MOELAB" tokenize "$WORK/tiny-llama.gguf" "$rendered" | $PY -c "import json,sys; print(len(json.load(sys.stdin)))")
echo "Hello there" | "$MOELAB" run "$WORK/tiny-llama.gguf" --chat -n 4 --temp 0 >/dev/null 2>"$WORK/err.txt"
grep -q "ChatML" "$WORK/err.txt" || die "run --chat: no ChatML note"
grep -q "prompt $n_rendered tokens" "$WORK/err.txt" || die "run --chat: prompt is not the rendered template ($n_rendered tokens): $(cat "$WORK/err.txt")"
ok "run --chat renders the turn through the chat template ($n_rendered prompt tokens)"

# Bad input: one clear line on stderr and a non-zero exit, never a crash.
expect_error() {
  local what=$1; shift
  set +e; "$@" >/dev/null 2>"$WORK/err.txt"; local rc=$?; set -e
  [[ $rc -ne 0 && $rc -lt 128 ]] || die "$what: exit code $rc"
  grep -q "error" "$WORK/err.txt" || die "$what: no error message: $(cat "$WORK/err.txt")"
  ok "$what -> $(head -c 150 "$WORK/err.txt" | head -1)"
}
head -c 1000 "$ORACLE/llama-dense.gguf" >"$WORK/truncated.gguf"
expect_error "truncated GGUF" "$MOELAB" run "$WORK/truncated.gguf" -p hi
printf 'GGUF\x07\x00\x00\x00' >"$WORK/badversion.gguf"
expect_error "bad GGUF version" "$MOELAB" info "$WORK/badversion.gguf"
expect_error "token id out of range" "$MOELAB" logits "$ORACLE/llama-dense.gguf" --tokens 1,99999 -o "$WORK/x.f32"
expect_error "bad token list" "$MOELAB" logits "$ORACLE/llama-dense.gguf" --tokens 1,x -o "$WORK/x.f32"
expect_error "knob on a dense model" "$MOELAB" run "$ORACLE/llama-dense.gguf" -p hi --max-active-experts 2
expect_error "K above the selectable experts" "$MOELAB" run "$ORACLE/deepseek-v3.gguf" -p hi --max-active-experts 9
expect_error "threshold out of range" "$MOELAB" run "$ORACLE/qwen3moe.gguf" -p hi --expert-threshold 1.5
expect_error "unknown preset" "$MOELAB" make-model --preset nope -o "$WORK/x.gguf"
echo "$pass passed, 0 failed"
