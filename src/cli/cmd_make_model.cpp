// `moelab make-model`: seeded synthetic GGUF models for tests, demos and benchmarks.
#include <unistd.h>

#include <cstdio>

#include "base/progress.h"
#include "cli/command.h"
#include "model/synthetic/make_model.h"

namespace moelab {

void register_make_model(CLI::App& app, CommandList& commands) {
  struct Args {
    std::string preset, output, type;
    uint64_t seed = 0;
    bool list = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("make-model", "Write a seeded synthetic model (see --list)");
  sub->add_option("--preset", a->preset, "Preset name");
  sub->add_option("-o,--output", a->output, "Output GGUF file");
  sub->add_option("--seed", a->seed, "Random seed");
  sub->add_option("--type", a->type, "Weight type (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k, ...)");
  sub->add_flag("--list", a->list, "List the presets");
  commands.push_back({sub, [a] {
                        if (a->list) {
                          for (const PresetInfo& p : model_presets())
                            std::printf("%-22s %s\n", p.name.c_str(), p.description.c_str());
                          return 0;
                        }
                        if (a->preset.empty() || a->output.empty())
                          return fail("make-model: --preset and -o/--output are required (or --list)");
                        MakeModelOptions opts;
                        opts.preset = a->preset;
                        opts.output_path = a->output;
                        opts.seed = a->seed;
                        if (!a->type.empty()) {
                          auto t = dtype_from_name(a->type);
                          if (!t) return fail("make-model: unknown --type '" + a->type + "'");
                          opts.weight_type = *t;
                        }
                        ProgressLine line("writing " + a->output);
                        opts.progress = [&line](const MakeModelProgress& p) {
                          line.update(p.bytes_done, p.bytes_total);
                        };
                        Status st = make_model(opts);
                        line.clear();
                        if (!st.is_ok()) return fail(st);
                        std::fprintf(stderr, "moelab: wrote %s (preset %s, seed %llu)\n", a->output.c_str(),
                                     a->preset.c_str(), static_cast<unsigned long long>(a->seed));
                        return 0;
                      }});
}

}  // namespace moelab
