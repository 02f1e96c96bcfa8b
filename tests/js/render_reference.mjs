// Reference chat-template renderer for the tests: @huggingface/jinja, the renderer
// transformers.js uses. Expected output is always produced here at test time.
//
//   node render_reference.mjs TEMPLATE_FILE CONTEXT_JSON_FILE
//       prints the rendered text, or "<<REFERENCE_ERROR>> message" and exits 1
//   node render_reference.mjs --batch CASES_JSON_FILE
//       CASES: [{"template": "...", "context": {...}}, ...]
//       prints [{"ok": true, "text": "..."} | {"ok": false, "error": "..."}, ...]
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

function render(source, context) {
  try {
    return { ok: true, text: new Template(source).render(context) };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
}

const args = process.argv.slice(2);
if (args[0] === "--batch" && args.length === 2) {
  const cases = JSON.parse(readFileSync(args[1], "utf8"));
  process.stdout.write(JSON.stringify(cases.map((c) => render(c.template, c.context))));
} else if (args.length === 2) {
  const r = render(readFileSync(args[0], "utf8"), JSON.parse(readFileSync(args[1], "utf8")));
  if (r.ok) {
    process.stdout.write(r.text);
  } else {
    process.stdout.write(`<<REFERENCE_ERROR>> ${r.error}\n`);
    process.exitCode = 1;
  }
} else {
  process.stderr.write("usage: render_reference.mjs TEMPLATE CONTEXT | --batch CASES\n");
  process.exitCode = 2;
}
