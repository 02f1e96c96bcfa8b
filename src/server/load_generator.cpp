#include "server/load_generator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include <httplib.h>

namespace moelab {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct RequestTiming {
  bool ok = false;
  std::string error;
  double ttft_ms = 0, e2e_ms = 0;
  std::vector<double> itl_ms;
  int64_t output_tokens = 0;
  int64_t prompt_tokens = 0;
};

// One streaming completion; every SSE chunk with text counts as a token
// unless the server reports usage.
RequestTiming one_request(httplib::Client& cli, const LoadConfig& c, const Json& body) {
  RequestTiming t;
  httplib::Request req;
  req.method = "POST";
  req.path = c.base_path + "/v1/completions";
  req.set_header("Content-Type", "application/json");
  if (!c.api_key.empty()) req.set_header("Authorization", "Bearer " + c.api_key);
  req.body = body.dump();
  std::string buffer;
  int64_t chunks = 0, usage_tokens = -1;
  const auto start = Clock::now();
  Clock::time_point last = start;
  bool done = false;
  std::string server_error;
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    buffer.append(data, len);
    size_t pos;
    while ((pos = buffer.find("\n\n")) != std::string::npos) {
      std::string event = buffer.substr(0, pos);
      buffer.erase(0, pos + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      const std::string payload = event.substr(6);
      if (payload == "[DONE]") {
        done = true;
        continue;
      }
      Json j = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) continue;
      if (j.contains("error")) {
        server_error = j["error"].value("message", std::string("error"));
        continue;
      }
      if (j.contains("usage") && j["usage"].is_object()) {
        usage_tokens = j["usage"].value("completion_tokens", int64_t{-1});
        t.prompt_tokens = j["usage"].value("prompt_tokens", int64_t{0});
      }
      if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) continue;
      const Json& ch = j["choices"][0];
      const bool has_text = ch.contains("text") && ch["text"].is_string() && !ch["text"].get<std::string>().empty();
      if (!has_text) continue;
      const auto now = Clock::now();
      if (chunks == 0) {
        t.ttft_ms = ms_since(start, now);
      } else {
        t.itl_ms.push_back(ms_since(last, now));
      }
      last = now;
      ++chunks;
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent = cli.send(req, res, err);
  t.e2e_ms = ms_since(start, Clock::now());
  if (!sent) {
    t.error = "request failed: " + httplib::to_string(err);
  } else if (res.status != 200) {
    t.error = "HTTP " + std::to_string(res.status) + ": " + buffer.substr(0, 200);
  } else if (!server_error.empty()) {
    t.error = server_error;
  } else if (!done) {
    t.error = "the stream ended without [DONE]";
  } else if (chunks == 0) {
    t.error = "no tokens came back";
  } else {
    t.ok = true;
  }
  t.output_tokens = usage_tokens >= 0 ? usage_tokens : chunks;
  return t;
}

std::string word_for(int32_t id) {
  // Short lowercase words; each is usually one or two tokens.
  static const char* kSyllables[] = {"ka", "lo", "mi", "ne", "su", "ta", "ro", "vi"};
  std::string w = " ";
  w += kSyllables[id % 8];
  w += kSyllables[(id / 8) % 8];
  return w;
}

}  // namespace

LatencySummary summarize(std::vector<double> v) {
  LatencySummary s;
  s.n = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  // Linear interpolation between closest ranks (numpy's default percentile).
  auto pct = [&](double p) {
    const double r = p / 100.0 * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(r));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (r - static_cast<double>(lo));
  };
  s.p50 = pct(50);
  s.p95 = pct(95);
  s.p99 = pct(99);
  return s;
}

Result<std::vector<LevelResult>> run_load(const LoadConfig& c) {
  std::string model = c.model;
  int32_t vocab = c.vocab;
  if (model.empty() || vocab <= 0) {
    httplib::Client cli(c.host, c.port);
    cli.set_connection_timeout(10);
    httplib::Headers h;
    if (!c.api_key.empty()) h.emplace("Authorization", "Bearer " + c.api_key);
    auto res = cli.Get((c.base_path + "/v1/models").c_str(), h);
    if (!res) return Status::error("GET /v1/models on " + c.host + ":" + std::to_string(c.port) + ": " +
                                   httplib::to_string(res.error()));
    Json j = Json::parse(res->body, nullptr, false);
    if (res->status != 200 || j.is_discarded() || !j.contains("data") || !j["data"].is_array() ||
        j["data"].empty() || !j["data"][0].contains("id"))
      return Status::error("GET /v1/models: unexpected answer (HTTP " + std::to_string(res->status) + ")");
    if (model.empty()) model = j["data"][0]["id"].get<std::string>();
    const Json& d = j["data"][0];
    if (vocab <= 0 && d.contains("meta") && d["meta"].is_object() && d["meta"].contains("n_vocab") &&
        d["meta"]["n_vocab"].is_number_integer())
      vocab = std::min<int32_t>(d["meta"]["n_vocab"].get<int32_t>(), 32000);
    if (vocab <= 0) vocab = 1000;
  }
  if (vocab <= 11) return Status::error("--vocab must be > 11");
  std::vector<LevelResult> results;
  std::mt19937_64 rng(c.seed);
  std::uniform_int_distribution<int32_t> token(10, vocab - 1);
  std::vector<int32_t> prefix(static_cast<size_t>(std::min(c.shared_prefix, c.prompt_len)));
  for (int32_t& t : prefix) t = token(rng);

  for (int32_t conc : c.concurrency) {
    if (conc <= 0) return Status::error("--concurrency: levels must be positive");
    const int32_t n_requests = c.requests > 0 ? c.requests : std::max(8, 4 * conc);
    std::vector<Json> bodies;
    for (int32_t i = 0; i < n_requests; ++i) {
      std::vector<int32_t> prompt = prefix;
      while (static_cast<int32_t>(prompt.size()) < c.prompt_len) prompt.push_back(token(rng));
      Json b = {{"model", model}, {"max_tokens", c.gen_len}, {"temperature", 0.0}, {"ignore_eos", true},
                {"stream", true}, {"stream_options", {{"include_usage", true}}}};
      if (c.text_prompt) {
        std::string text;
        for (int32_t t : prompt) text += word_for(t);
        b["prompt"] = text;
      } else {
        b["prompt"] = prompt;
      }
      bodies.push_back(std::move(b));
    }
    std::atomic<int32_t> next{0};
    std::vector<RequestTiming> timings(static_cast<size_t>(n_requests));
    const auto start = Clock::now();
    std::vector<std::thread> clients;
    for (int32_t k = 0; k < std::min(conc, n_requests); ++k) {
      clients.emplace_back([&] {
        httplib::Client cli(c.host, c.port);
        cli.set_connection_timeout(10);
        cli.set_read_timeout(c.timeout_s);
        cli.set_write_timeout(c.timeout_s);
        cli.set_keep_alive(true);
        cli.set_tcp_nodelay(true);
        for (int32_t i; (i = next++) < n_requests;) timings[static_cast<size_t>(i)] = one_request(cli, c, bodies[i]);
      });
    }
    for (auto& t : clients) t.join();
    LevelResult r;
    r.concurrency = conc;
    r.duration_s = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<double> ttft, tpot, itl, e2e;
    for (const RequestTiming& t : timings) {
      if (!t.ok) {
        ++r.failed;
        if (r.first_error.empty()) r.first_error = t.error;
        continue;
      }
      ++r.completed;
      r.prompt_tokens += t.prompt_tokens > 0 ? t.prompt_tokens : c.prompt_len;
      r.output_tokens += t.output_tokens;
      ttft.push_back(t.ttft_ms);
      e2e.push_back(t.e2e_ms);
      if (t.output_tokens > 1) tpot.push_back((t.e2e_ms - t.ttft_ms) / static_cast<double>(t.output_tokens - 1));
      itl.insert(itl.end(), t.itl_ms.begin(), t.itl_ms.end());
    }
    r.ttft = summarize(ttft);
    r.tpot = summarize(tpot);
    r.itl = summarize(itl);
    r.e2e = summarize(e2e);
    if (r.duration_s > 0) {
      r.request_throughput = r.completed / r.duration_s;
      r.output_throughput = static_cast<double>(r.output_tokens) / r.duration_s;
      r.total_throughput = static_cast<double>(r.output_tokens + r.prompt_tokens) / r.duration_s;
    }
    results.push_back(std::move(r));
  }
  return results;
}

Json to_json(const LoadConfig& c, const std::vector<LevelResult>& results) {
  auto lat = [](const LatencySummary& s) {
    return Json{{"mean", s.mean}, {"p50", s.p50}, {"p95", s.p95}, {"p99", s.p99}, {"n", s.n}};
  };
  Json levels = Json::array();
  for (const LevelResult& r : results) {
    levels.push_back(Json{{"concurrency", r.concurrency},
                          {"completed", r.completed},
                          {"failed", r.failed},
                          {"first_error", r.first_error},
                          {"duration_s", r.duration_s},
                          {"prompt_tokens", r.prompt_tokens},
                          {"output_tokens", r.output_tokens},
                          {"request_throughput", r.request_throughput},
                          {"output_throughput", r.output_throughput},
                          {"total_token_throughput", r.total_throughput},
                          {"ttft_ms", lat(r.ttft)},
                          {"tpot_ms", lat(r.tpot)},
                          {"itl_ms", lat(r.itl)},
                          {"e2e_ms", lat(r.e2e)}});
  }
  return Json{{"target", c.host + ":" + std::to_string(c.port)},
              {"prompt_len", c.prompt_len},
              {"gen_len", c.gen_len},
              {"shared_prefix", c.shared_prefix},
              {"levels", levels}};
}

std::string format_table(const std::vector<LevelResult>& results) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "%5s %5s %4s %8s %9s %9s | %26s | %26s | %26s\n", "conc", "done", "fail",
                "req/s", "out tok/s", "tot tok/s", "TTFT ms p50/p95/p99", "TPOT ms p50/p95/p99",
                "ITL ms p50/p95/p99");
  out += line;
  for (const LevelResult& r : results) {
    std::snprintf(line, sizeof(line),
                  "%5d %5d %4d %8.2f %9.1f %9.1f | %8.1f %8.1f %8.1f | %8.2f %8.2f %8.2f | %8.2f %8.2f %8.2f\n",
                  r.concurrency, r.completed, r.failed, r.request_throughput, r.output_throughput,
                  r.total_throughput, r.ttft.p50, r.ttft.p95, r.ttft.p99, r.tpot.p50, r.tpot.p95, r.tpot.p99,
                  r.itl.p50, r.itl.p95, r.itl.p99);
    out += line;
    if (r.failed > 0) out += "      first error: " + r.first_error + "\n";
  }
  return out;
}

}  // namespace moelab
