// `moelab info`: what a model file is, and what running it costs: parameters
// in total and active per token, bytes read per decoded token, KV bytes per token.
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "base/units.h"
#include "cli/command.h"
#include "model/model.h"

namespace moelab {
namespace {

const char* gating_name(GatingFunc g) {
  switch (g) {
    case GatingFunc::kSoftmax: return "softmax";
    case GatingFunc::kSigmoid: return "sigmoid";
    case GatingFunc::kSoftmaxWeight: return "softmax_weight";
  }
  return "?";
}

nlohmann::ordered_json describe(const Model& m) {
  const ModelConfig& c = m.config();
  nlohmann::ordered_json j;
  j["file"] = m.file().path();
  j["architecture"] = c.arch;
  if (!c.name.empty()) j["name"] = c.name;
  j["n_vocab"] = c.n_vocab;
  j["n_embd"] = c.n_embd;
  j["n_layer"] = c.n_layer;
  j["n_head"] = c.n_head;
  j["n_head_kv"] = c.attention == AttentionKind::kMla ? 1 : c.n_head_kv;
  j["head_dim_k"] = c.head_dim_k;
  j["head_dim_v"] = c.head_dim_v;
  j["n_ff"] = c.n_ff;
  j["n_ctx_train"] = c.n_ctx_train;
  j["rms_eps"] = c.rms_eps;
  j["attention"] = c.attention == AttentionKind::kMla ? "mla" : "gqa";
  j["rope"] = {{"style", c.rope.style == RopeStyle::kNorm ? "norm" : "neox"},
               {"n_rot", c.rope.n_rot},
               {"freq_base", c.rope.freq_base},
               {"freq_scale", c.rope.freq_scale},
               {"yarn", c.rope.yarn},
               {"rope_freqs", !c.rope.freq_divisors.empty()}};
  if (c.attention == AttentionKind::kMla) {
    j["mla"] = {{"q_lora_rank", c.mla.q_lora_rank},
                {"kv_lora_rank", c.mla.kv_lora_rank},
                {"qk_nope_head_dim", c.mla.qk_nope_head_dim},
                {"qk_rope_head_dim", c.mla.qk_rope_head_dim},
                {"v_head_dim", c.mla.v_head_dim}};
  }
  if (c.is_moe()) {
    j["moe"] = {{"n_expert", c.moe.n_expert},
                {"n_expert_used", c.moe.n_expert_used},
                {"n_expert_shared", c.moe.n_expert_shared},
                {"n_ff_exp", c.moe.n_ff_exp},
                {"n_ff_shexp", c.moe.n_ff_shexp},
                {"gating", gating_name(c.moe.gating)},
                {"norm_weights", c.moe.norm_weights},
                {"weights_scale", c.moe.weights_scale},
                {"n_group", c.moe.n_group},
                {"n_group_used", c.moe.n_group_used},
                {"selection_bias", c.moe.has_selection_bias},
                {"n_dense_lead", c.n_dense_lead}};
  }
  std::map<std::string, int64_t> types;
  for (const GgufTensorInfo& t : m.file().tensors()) ++types[std::string(dtype_info(t.type).name)];
  j["tensor_types"] = types;
  j["n_tensors"] = m.file().tensors().size();
  j["params_total"] = m.n_params_total();
  j["params_active_per_token"] = m.n_params_active();
  j["weight_bytes"] = m.weight_bytes();
  j["bytes_per_token"] = m.bytes_per_token();
  j["kv_bytes_per_token"] = m.kv_layout().bytes_per_token();
  j["kv_bytes_per_token_f16"] = m.kv_layout(DType::kF16).bytes_per_token();
  return j;
}


}  // namespace

void register_info(CLI::App& app, CommandList& commands) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("info", "Describe a model: hyper-parameters, sizes, per-token costs");
  sub->add_option("model", *path, "GGUF model file")->required()->check(CLI::ExistingFile);
  sub->add_flag("--json", *json, "Print JSON");
  commands.push_back({sub, [path, json] {
                        ModelOverrides load;
                        load.prefault = false;  // only the metadata is read
                        auto model = Model::load(*path, load);
                        if (!model.is_ok()) return fail(model.status());
                        const nlohmann::ordered_json j = describe(**model);
                        if (*json) {
                          std::printf("%s\n", j.dump(2).c_str());
                          return 0;
                        }
                        for (const auto& [key, value] : j.items()) {
                          std::string v = value.is_string() ? value.get<std::string>() : value.dump();
                          if (key.find("bytes") != std::string::npos && value.is_number())
                            v += " (" + binary_bytes(value.get<double>()) + ")";
                          std::printf("%-26s %s\n", key.c_str(), v.c_str());
                        }
                        return 0;
                      }});
}

}  // namespace moelab
