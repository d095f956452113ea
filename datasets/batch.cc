#include "datasets/batch.h"

#include "common/error.h"

namespace repipe {

std::vector<Bundle> split_bundle(const Bundle& bundle, std::int64_t parts) {
  std::vector<Bundle> out(static_cast<std::size_t>(parts));
  for (const auto& [name, tensor] : bundle) {
    std::int64_t rows = tensor.size(0);
    REPIPE_CHECK(rows % parts == 0, "'" << name << "' has " << rows << " rows, not divisible by "
                                        << parts << " micro-batches");
    std::int64_t size = rows / parts;
    for (std::int64_t i = 0; i < parts; ++i) out[i][name] = tensor.narrow(0, i * size, size);
  }
  return out;
}

Bundle bundle_to(const Bundle& bundle, const torch::Device& device) {
  Bundle out;
  // A pinned source copies asynchronously to a GPU (the loader pins for GPU runs).
  for (const auto& [name, tensor] : bundle) out[name] = tensor.to(device, tensor.is_pinned());
  return out;
}

std::int64_t tensor_bytes(const torch::Tensor& tensor) {
  if (!tensor.defined()) return 0;
  return tensor.numel() * static_cast<std::int64_t>(tensor.element_size());
}

std::int64_t bundle_bytes(const Bundle& bundle) {
  std::int64_t bytes = 0;
  for (const auto& entry : bundle) bytes += tensor_bytes(entry.second);
  return bytes;
}

}  // namespace repipe
