#include "server/choice.h"

#include <algorithm>

namespace moelab {

Choice::Choice(int32_t index, const Tokenizer& tokenizer, std::shared_ptr<RequestStream> stream,
               std::vector<std::string> stops)
    : index_(index),
      tokenizer_(tokenizer),
      stream_(std::move(stream)),
      decoder_(tokenizer),
      stop_(std::move(stops)) {}

ChoiceDelta Choice::apply(const EngineEvent& e, EngineLoop& loop) {
  ChoiceDelta d;
  if (finished()) return d;
  if (!e.prompt_tokens.empty()) {
    prompt_tokens_ = e.prompt_tokens;
    d.prompt_tokens = e.prompt_tokens;
  }
  for (const TokenOutput& t : e.tokens) {
    const std::string piece = decoder_.push(t.token);
    d.tokens.push_back(t);
    d.text_offsets.push_back(raw_bytes_);
    tokens_.push_back(t);
    offsets_.push_back(raw_bytes_);
    raw_bytes_ += piece.size();
    d.text += stop_.push(piece);
    if (stop_.stopped()) {
      finish_reason_ = "stop";
      loop.cancel(stream_);
      break;
    }
  }
  if (!finished() && e.finish != FinishReason::kNone) {
    d.text += stop_.push(decoder_.flush());
    if (!stop_.stopped()) d.text += stop_.flush();
    switch (e.finish) {
      case FinishReason::kStop: finish_reason_ = "stop"; break;
      case FinishReason::kLength: finish_reason_ = "length"; break;
      case FinishReason::kError: finish_reason_ = "error"; error_ = e.error; break;
      default: finish_reason_ = "cancelled"; break;
    }
    if (stop_.stopped()) finish_reason_ = "stop";
  }
  text_ += d.text;
  d.finished = finished();
  return d;
}

int wait_any(std::vector<Choice>& choices, EngineEvent* out, std::chrono::milliseconds timeout) {
  int first_open = -1;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i].finished()) continue;
    if (first_open < 0) first_open = static_cast<int>(i);
    if (auto e = choices[i].stream()->next(std::chrono::milliseconds(0))) {
      *out = std::move(*e);
      return static_cast<int>(i);
    }
  }
  if (first_open < 0) return -1;
  // Several open choices: poll in short slices so none waits behind another.
  const int n_open = static_cast<int>(std::count_if(choices.begin(), choices.end(),
                                                    [](const Choice& c) { return !c.finished(); }));
  const auto slice = n_open > 1 ? std::min(timeout, std::chrono::milliseconds(5)) : timeout;
  if (auto e = choices[first_open].stream()->next(slice)) {
    *out = std::move(*e);
    return first_open;
  }
  return -1;
}

}  // namespace moelab
