#include "libofn/backends/process/config.h"

#include <boost/json.hpp>
#include <map>
#include <filesystem>

#include "libofn/common/internal/json_access.h"

namespace ofn::process {

namespace json = boost::json;

Result<Config> ParseConfig(const backend::Workload& w, const ProcessDriverOptions& opt) {
  if (w.kind != backend::WorkloadKind::kCommand || w.command.empty()) {
    return Status(StatusCode::kInvalidArgument, "the function container of " + w.ns + "/" + w.function +
                                                    " sets no command");
  }
  Config cfg;
  cfg.ns = w.ns;
  cfg.function = w.function;
  cfg.revision = w.revision;
  cfg.command = w.command;
  cfg.args = w.args;
  cfg.working_dir = w.working_dir;
  if (!cfg.working_dir.empty() && cfg.working_dir.front() != '/' && !w.base_dir.empty()) {
    cfg.working_dir = (std::filesystem::path(w.base_dir) / cfg.working_dir).lexically_normal().string();
    if (cfg.working_dir.size() > 1 && cfg.working_dir.back() == '/') cfg.working_dir.pop_back();
  }
  if (opt.extra_env) cfg.env = opt.extra_env(w);
  cfg.env.insert(cfg.env.end(), w.env.begin(), w.env.end());
  cfg.func_context = w.func_context;
  cfg.readiness = w.readiness;
  cfg.liveness = w.liveness;
  cfg.start_timeout = w.start_timeout.value_or(opt.start_timeout);
  cfg.grace = w.grace.value_or(opt.grace);
  cfg.memory_bytes = w.limits.memory_bytes;
  cfg.cpu_millis = w.limits.cpu_millis;
  cfg.memory_text = w.limits.memory_text;
  cfg.cpu_text = w.limits.cpu_text;
  return cfg;
}

std::vector<std::string> InstanceEnvironment(const std::vector<std::string>& host, const Config& cfg, int port) {
  std::map<std::string, std::string> env;
  for (const std::string& e : host) {
    size_t eq = e.find('=');
    if (eq != std::string::npos) env[e.substr(0, eq)] = e.substr(eq + 1);
  }
  for (const auto& [k, v] : cfg.env) env[k] = v;
  json::object ctx = ofn::internal::ParseObjectOrEmpty(cfg.func_context).as_object();
  ctx["port"] = std::to_string(port);
  json::value& tv = ctx["triggers"];
  if (!tv.is_object()) tv = json::object();
  json::object& triggers = tv.as_object();
  json::object http = triggers.contains("http") && triggers["http"].is_object() ? triggers["http"].as_object() : json::object();
  http["port"] = port;
  triggers["http"] = std::move(http);
  env["FUNC_CONTEXT"] = json::serialize(ctx);
  env["PORT"] = std::to_string(port);
  env["CONTEXT_MODE"] = "self-host";
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace ofn::process
