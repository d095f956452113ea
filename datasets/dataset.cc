// datasets/dataset.cc: the dataset names `--dataset` takes.
#include "datasets/dataset.h"

#include "common/error.h"
#include "datasets/cifar10.h"
#include "datasets/synthetic.h"

namespace repipe {

std::unique_ptr<Dataset> open_dataset(const std::string& name, const SampleSpec& spec,
                                      std::uint64_t seed) {
  if (name == "synthetic") return std::make_unique<SyntheticDataset>(spec, seed);
  if (name.rfind("cifar10:", 0) == 0)
    return std::make_unique<Cifar10Dataset>(name.substr(8), spec, seed);
  throw UsageError("dataset '" + name + "': expected synthetic or cifar10:DIR");
}

}  // namespace repipe
