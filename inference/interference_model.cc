// inference/interference_model.cc: DeInfer's interference model on achieved rates, and where its
// coefficients come from.
#include "inference/interference_model.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "common/error.h"
#include "common/text_format.h"
#include "common/toml_fields.h"

namespace repipe {
namespace {

constexpr const char* kInterferenceFormat = "repipe-interference";
constexpr std::int64_t kInterferenceVersion = 1;

// G·L of a tenant at its share: both rates scale with its speed there.
double achieved_gl(const Tenant& t) {
  return (t.speed * t.gflops) * (t.speed * t.memory_load);
}

}  // namespace

DeinferInterference::DeinferInterference(DeinferModel coefficients, std::string source)
    : coefficients_(coefficients), source_(std::move(source)) {}

double DeinferInterference::interference_points(const Tenant& target,
                                                const std::vector<Tenant>& corunners) const {
  if (corunners.empty()) return 0;  // the runtime profile is the time alone
  double corunner_gl = 0;
  for (const Tenant& c : corunners) corunner_gl += achieved_gl(c);
  const double slowdown = coefficients_.predict(achieved_gl(target), corunner_gl);
  return 100 * (std::max(1.0, slowdown) - 1);
}

std::string DeinferInterference::describe() const {
  return "deinfer c0=" + format_double(coefficients_.c0) +
         " c1=" + format_double(coefficients_.c1) + " c2=" + format_double(coefficients_.c2) +
         " (" + source_ + ")";
}

DeinferModel read_interference_toml(const std::string& path) {
  const toml::table root = parse_toml_file(path, "interference coefficients");
  const TomlFields toml(path, root);
  toml.allow_only({"format", "version", "source", "deinfer"});
  if (toml.text("format") != kInterferenceFormat) {
    toml.fail("format", std::string("\"") + kInterferenceFormat + "\"");
  }
  if (toml.integer("version") != kInterferenceVersion) {
    toml.fail("version", std::to_string(kInterferenceVersion));
  }
  const TomlFields deinfer = toml.table("deinfer");
  deinfer.allow_only({"c0", "c1", "c2"});
  return DeinferModel{deinfer.number("c0"), deinfer.number("c1"), deinfer.number("c2")};
}

std::string interference_toml(const DeinferModel& c, const std::string& source) {
  std::ostringstream out;
  out << "# repipe interference coefficients for this model repository's features (G in GFLOP/s,\n"
      << "# L in % of peak memory bandwidth): DeInfer's model on achieved rates,\n"
      << "#   slowdown = c0 + c1 * G*L (own) + c2 * sum of G'*L' (co-runners), at least 1.\n"
      << "format = " << toml_quoted(kInterferenceFormat) << "\n"
      << "version = " << kInterferenceVersion << "\n"
      << "source = " << toml_quoted(source) << "\n\n"
      << "[deinfer]\n"
      << "c0 = " << toml_float(c.c0) << "\n"
      << "c1 = " << toml_float(c.c1) << "\n"
      << "c2 = " << toml_float(c.c2) << "\n";
  return out.str();
}

std::unique_ptr<DeinferInterference> load_interference_model(const std::string& repo_dir,
                                                             const std::string& predictor_dir) {
  if (!predictor_dir.empty()) {
    const SlowdownPredictor predictor = SlowdownPredictor::load(predictor_dir);
    return std::make_unique<DeinferInterference>(predictor.deinfer(),
                                                 "from predictor " + predictor_dir);
  }
  const std::filesystem::path path = std::filesystem::path(repo_dir) / kInterferenceFile;
  std::error_code error;
  if (!repo_dir.empty() && std::filesystem::exists(path, error)) {
    return std::make_unique<DeinferInterference>(read_interference_toml(path.string()),
                                                 "from " + path.string());
  }
  return std::make_unique<DeinferInterference>(kDefaultDeinfer, "default");
}

}  // namespace repipe
