// The text the synthetic vocabulary is trained on. Written for moelab; any
// English and code of a few KB would do, but changing it changes every
// synthetic model's vocabulary, so treat it as frozen.
#include <string_view>

#include "model/synthetic/bpe_vocab.h"

namespace moelab::synthetic {
namespace {

constexpr std::string_view kCorpus = R"corpus(The river ran past the old mill
at the edge of the town, and in the morning the light came through the trees and fell on the water. People in the town
said that the mill had been there for three hundred years, and that the wheel
had turned every day of those years except for one winter when the river froze.
The children who lived near the mill would walk along the bank in the evening,
counting the stones in the shallow places and telling stories about the fish
that hid under the roots. When the rain came in the spring, the water rose and
the stones were covered, and the children waited for the summer to return.

A good engineer reads the code before changing it. She asks what the function
is meant to do, which inputs it receives, and what happens when the input is
wrong. She writes a test that fails, then makes it pass, then makes the code
simpler. The best programs are the ones that other people can read and trust;
a clever trick that nobody understands is a debt that someone will pay later.
In the end, the work is about people as much as it is about machines.

Language models predict the next token from the tokens that came before it.
Each layer of the transformer mixes information between positions with
attention, and then transforms each position on its own with a feed forward
network. In a mixture of experts, a router chooses a few experts for every
token, so the model can hold many parameters while each token only touches a
small part of them. The speed of decoding is limited by how many bytes of
weights must be read for every token, which is why experts help on a CPU.

#include <cstdint>
#include <string>
#include <vector>

// Returns the index of the largest value, or -1 when the list is empty.
int64_t argmax(const std::vector<float>& values) {
  if (values.empty()) return -1;
  int64_t best = 0;
  for (int64_t i = 1; i < static_cast<int64_t>(values.size()); ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

struct Config {
  int n_layer = 16;
  int n_head = 8;
  float eps = 1e-5f;
  std::string name = "model";
};

for (int i = 0; i < n; ++i) {
  sum += x[i] * x[i];
}
const float scale = 1.0f / std::sqrt(sum / n + eps);
for (int i = 0; i < n; ++i) {
  y[i] = x[i] * scale * weight[i];
}

def softmax(values):
    largest = max(values)
    exps = [math.exp(v - largest) for v in values]
    total = sum(exps)
    return [e / total for e in exps]

def top_k(scores, k):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    return order[:k]

class Router:
    def __init__(self, n_expert, n_used):
        self.n_expert = n_expert
        self.n_used = n_used

    def route(self, logits):
        probs = softmax(logits)
        chosen = top_k(probs, self.n_used)
        weight = sum(probs[i] for i in chosen)
        return [(i, probs[i] / weight) for i in chosen]

if __name__ == "__main__":
    router = Router(8, 2)
    print(router.route([0.1, 0.5, -0.2, 1.0, 0.0, 0.3, -1.0, 0.7]))

The weather report for the week: on Monday it will be cold and clear, with a
light wind from the north. On Tuesday the clouds will return, and there may be
rain in the afternoon. Wednesday and Thursday will be warmer, and by Friday
the sun should be out again for the weekend. Remember to bring a coat if you
are going out early, because the mornings are still cold at this time of year.

Questions and answers. What is the capital of France? The capital of France is
Paris. How many days are there in a week? There are seven days in a week. What
is two plus three? Two plus three is five. Why is the sky blue? Because the air
scatters blue light more than red light. Who wrote this text? A person who
wanted a small corpus with some words, some numbers like 1, 2, 3, 10, 42, 100
and 2024, and some code, so that the tokenizer would learn useful pieces.
)corpus";

}  // namespace

std::string_view builtin_corpus() { return kCorpus; }

}  // namespace moelab::synthetic
