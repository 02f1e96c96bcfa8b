// Prints a GGUF file's header, metadata and tensor infos as JSON, parsed by
// Hugging Face's independent GGUF reader: the GGUF tests compare moelab's
// reader and writer against it. Usage: node gguf_dump.mjs FILE.gguf
import { gguf } from "@huggingface/gguf";

const file = process.argv[2];
const { metadata, typedMetadata, tensorInfos, tensorDataOffset } = await gguf(file, {
  allowLocalFile: true,
  typedMetadata: true,
});
const plain = (v) => (typeof v === "bigint" ? v.toString() : v);
const out = { version: plain(metadata.version), tensor_data_offset: plain(tensorDataOffset),
              metadata: {}, tensors: [] };
for (const [key, entry] of Object.entries(typedMetadata)) {
  if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
  const value = Array.isArray(entry.value) ? entry.value.map(plain) : plain(entry.value);
  out.metadata[key] = { type: entry.type, sub_type: entry.subType ?? null, value };
}
for (const t of tensorInfos) {
  out.tensors.push({ name: t.name, n_dims: t.n_dims, shape: t.shape.map(plain), dtype: t.dtype,
                     offset: plain(t.offset) });
}
process.stdout.write(JSON.stringify(out));
