// `moelab quantize IN OUT TYPE`: converts a GGUF model to another weight type
// (or one of llama.cpp's mixes), tensor by tensor, as llama-quantize does.
#include <unistd.h>

#include <cstdio>

#include "base/progress.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "cli/command.h"
#include "model/quantize.h"

namespace moelab {

void register_quantize(CLI::App& app, CommandList& commands) {
  struct Args {
    std::string input, output, type;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  std::string names;
  for (const std::string& n : quantize_target_names()) names += (names.empty() ? "" : ", ") + n;
  CLI::App* sub = app.add_subcommand("quantize", "Convert a GGUF model's weights to " + names);
  sub->add_option("input", a->input, "Input GGUF file")->required();
  sub->add_option("output", a->output, "Output GGUF file")->required();
  sub->add_option("type", a->type, "Target: " + names)->required();
  sub->add_option("-t,--threads", a->threads, "Threads (default: physical cores)")
      ->check(CLI::Range(0, 1024));
  commands.push_back(
      {sub, [a, names] {
         const auto target = find_quantize_target(a->type);
         if (!target) {
           return fail("quantize: unknown type '" + a->type + "' (one of " + names + ")");
         }
         if (a->input == a->output) {
           return fail("quantize: the output must not be the input file");
         }
         ThreadPool pool(a->threads > 0 ? a->threads : physical_core_count());
         QuantizeOptions opts;
         opts.input_path = a->input;
         opts.output_path = a->output;
         opts.target = *target;
         ProgressLine line("quantizing " + a->input);
         opts.progress = [&line](const QuantizeProgress& p) { line.update(p.bytes_done, p.bytes_total); };
         Timer timer;
         const Status st = quantize_model(opts, pool);
         line.clear();
         if (!st.is_ok()) return fail(st);
         std::fprintf(stderr, "moelab: wrote %s (%s) in %.1f s\n", a->output.c_str(),
                      target->name.c_str(), timer.seconds());
         return 0;
       }});
}

}  // namespace moelab
