// Drives `moelab serve` with the official `openai` client: streamed and whole
// completions and chat completions, logprobs, usage, and an API error. The
// server URL and key come from argv: node server_openai.mjs URL KEY
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, timeout: 60000, maxRetries: 0 });

function check(cond, what) {
  if (!cond) {
    console.error("FAIL:", what);
    process.exit(1);
  }
}

const models = await client.models.list();
check(models.data.length === 1 && typeof models.data[0].id === "string", "models.list");
const model = models.data[0].id;

// Completions: whole, then streamed; greedy, so both give the same text.
const whole = await client.completions.create({
  model, prompt: "Hello there", max_tokens: 8, temperature: 0, logprobs: 2,
});
check(whole.choices.length === 1 && typeof whole.choices[0].text === "string", "completion shape");
check(whole.usage.completion_tokens >= 1, "completion usage");
check(whole.choices[0].logprobs.tokens.length === whole.usage.completion_tokens, "logprobs per token");
let streamed = "";
let finish = null;
const cstream = await client.completions.create({
  model, prompt: "Hello there", max_tokens: 8, temperature: 0, stream: true,
});
for await (const chunk of cstream) {
  streamed += chunk.choices[0]?.text ?? "";
  finish = chunk.choices[0]?.finish_reason ?? finish;
}
check(streamed === whole.choices[0].text, `stream ${JSON.stringify(streamed)} != ${JSON.stringify(whole.choices[0].text)}`);
check(finish === whole.choices[0].finish_reason, "finish_reason");

// Chat: whole, then streamed with usage; the first delta carries the role.
const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi!" }];
const chat = await client.chat.completions.create({
  model, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2,
});
check(chat.choices[0].message.role === "assistant", "chat role");
check(chat.choices[0].logprobs.content.length === chat.usage.completion_tokens, "chat logprobs");
check(chat.choices[0].logprobs.content.every((e) => e.top_logprobs.length === 2), "top_logprobs");
let content = "";
let role = null;
let usage = null;
const sstream = await client.chat.completions.create({
  model, messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let first = true;
for await (const chunk of sstream) {
  if (chunk.usage) usage = chunk.usage;
  if (chunk.choices.length === 0) continue;
  if (first) role = chunk.choices[0].delta.role;
  first = false;
  content += chunk.choices[0].delta.content ?? "";
}
check(role === "assistant", "first delta has the role");
check(content === chat.choices[0].message.content, `chat stream ${JSON.stringify(content)}`);
check(usage && usage.completion_tokens === chat.usage.completion_tokens, "stream usage");

// Errors come back as APIError with the field.
try {
  await client.completions.create({ model, prompt: "x", temperature: 7 });
  check(false, "temperature 7 accepted");
} catch (e) {
  check(e instanceof OpenAI.APIError && e.status === 400, `error type ${e}`);
  check(e.param === "temperature", `error param ${e.param}`);
}
const bad = new OpenAI({ baseURL, apiKey: "wrong", maxRetries: 0 });
try {
  await bad.models.list();
  check(false, "wrong key accepted");
} catch (e) {
  check(e.status === 401, `wrong key: ${e.status}`);
}
console.log("openai client: completions, chat, streams, logprobs, usage and errors ok");
