#include "engine/bundle_channel.h"

#include <cstring>

#include "common/error.h"

namespace repipe {
namespace {

// 2 KiB: room for ~20 named tensors, and under the eager limit of MPI shared memory (4 KiB),
// so a header never costs a rendezvous.
constexpr std::int64_t kHeaderWords = 256;

// Header words: [tensor count, then per tensor: dtype, requires_grad, ndim, dims...,
// name length, name bytes packed 8 to a word].
torch::Tensor encode_header(const Bundle& bundle) {
  std::vector<std::int64_t> words{static_cast<std::int64_t>(bundle.size())};
  for (const auto& [name, tensor] : bundle) {
    words.push_back(static_cast<std::int64_t>(tensor.scalar_type()));
    words.push_back(tensor.requires_grad() ? 1 : 0);
    words.push_back(tensor.dim());
    for (std::int64_t d : tensor.sizes()) words.push_back(d);
    words.push_back(static_cast<std::int64_t>(name.size()));
    for (std::size_t i = 0; i < name.size(); i += 8) {
      std::int64_t packed = 0;
      std::memcpy(&packed, name.data() + i, std::min<std::size_t>(8, name.size() - i));
      words.push_back(packed);
    }
  }
  REPIPE_CHECK(static_cast<std::int64_t>(words.size()) <= kHeaderWords,
               "bundle header of " << words.size() << " words exceeds " << kHeaderWords);
  torch::Tensor header = torch::zeros({kHeaderWords}, torch::kLong);
  std::memcpy(header.data_ptr<std::int64_t>(), words.data(), words.size() * sizeof(std::int64_t));
  return header;
}

struct TensorSpec {
  std::string name;
  torch::ScalarType dtype;
  bool requires_grad;
  std::vector<std::int64_t> shape;
};

std::vector<TensorSpec> decode_header(const torch::Tensor& header) {
  const std::int64_t* w = header.data_ptr<std::int64_t>();
  std::int64_t at = 0;
  auto next = [&] {
    REPIPE_CHECK(at < kHeaderWords, "corrupt bundle header");
    return w[at++];
  };
  std::vector<TensorSpec> specs(static_cast<std::size_t>(next()));
  for (TensorSpec& spec : specs) {
    spec.dtype = static_cast<torch::ScalarType>(next());
    spec.requires_grad = next() != 0;
    spec.shape.resize(static_cast<std::size_t>(next()));
    for (std::int64_t& d : spec.shape) d = next();
    spec.name.resize(static_cast<std::size_t>(next()));
    for (std::size_t i = 0; i < spec.name.size(); i += 8) {
      std::int64_t packed = next();
      std::memcpy(spec.name.data() + i, &packed, std::min<std::size_t>(8, spec.name.size() - i));
    }
  }
  return specs;
}

}  // namespace

OutgoingBundle::OutgoingBundle(Transport& transport, const Bundle& bundle, int peer) {
  transfers_.push_back(transport.send(encode_header(bundle), peer));
  for (const auto& [name, tensor] : bundle) {
    transfers_.push_back(transport.send(tensor.detach().contiguous(), peer));
  }
}

bool OutgoingBundle::done() {
  for (auto& transfer : transfers_) {
    if (!transfer->done()) return false;
  }
  return true;
}

void OutgoingBundle::wait(std::chrono::milliseconds timeout, const std::string& what) {
  for (auto& transfer : transfers_) wait_for(*transfer, timeout, what);
}

struct InboundChannel::Pending {
  std::int64_t ticket;
  torch::Tensor header;
  std::unique_ptr<Transfer> header_transfer;  // set once posted
  std::vector<TensorSpec> specs;
  Bundle bundle;
  std::vector<std::unique_ptr<Transfer>> transfers;
  bool tensors_posted = false;
};

InboundChannel::InboundChannel(Transport& transport, int peer)
    : transport_(transport), peer_(peer) {}

InboundChannel::~InboundChannel() = default;

std::int64_t InboundChannel::expect() {
  auto pending = std::make_unique<Pending>();
  pending->ticket = next_ticket_++;
  queue_.push_back(std::move(pending));
  progress();
  return queue_.back()->ticket;
}

void InboundChannel::progress() {
  for (std::size_t i = 0; i < queue_.size(); ++i) {
    Pending& p = *queue_[i];
    if (!p.header_transfer) {
      if (i > 0 && !queue_[i - 1]->tensors_posted) return;  // keep the posting order
      p.header = torch::empty({kHeaderWords}, torch::kLong);
      p.header_transfer = transport_.recv(p.header, peer_);
    }
    if (!p.tensors_posted) {
      if (!p.header_transfer->done()) return;
      p.specs = decode_header(p.header);
      for (const TensorSpec& spec : p.specs) {
        torch::Tensor tensor = receive_buffer(spec.dtype, spec.shape);
        p.transfers.push_back(transport_.recv(tensor, peer_));
        p.bundle[spec.name] = tensor;
      }
      p.tensors_posted = true;
    }
  }
}

torch::Tensor InboundChannel::receive_buffer(torch::ScalarType dtype,
                                             const std::vector<std::int64_t>& shape) {
  std::int64_t numel = 1;
  for (std::int64_t d : shape) numel *= d;
  // A buffer is free when only this pool refers to its storage (every view lent out is gone).
  for (const torch::Tensor& buffer : buffers_) {
    if (buffer.scalar_type() == dtype && buffer.numel() == numel &&
        buffer.storage().use_count() == 1) {
      return buffer.view(shape);
    }
  }
  constexpr std::size_t kMostBuffers = 64;  // in-flight messages are far fewer
  if (buffers_.size() == kMostBuffers) buffers_.erase(buffers_.begin());
  buffers_.push_back(torch::empty({numel}, torch::TensorOptions(dtype)));
  return buffers_.back().view(shape);
}

Bundle InboundChannel::wait(std::int64_t ticket, std::chrono::milliseconds timeout,
                            const std::string& what) {
  auto find = [&]() -> Pending* {
    for (auto& p : queue_) {
      if (p->ticket == ticket) return p.get();
    }
    return nullptr;
  };
  Pending* pending = find();
  REPIPE_CHECK(pending, "no bundle expected with ticket " << ticket);
  // Poll the whole channel: earlier bundles must advance for this one to be posted.
  struct Poll : Transfer {
    InboundChannel& channel;
    Pending& pending;
    Poll(InboundChannel& c, Pending& p) : channel(c), pending(p) {}
    bool done() override {
      channel.progress();
      if (!pending.tensors_posted) return false;
      for (auto& t : pending.transfers) {
        if (!t->done()) return false;
      }
      return true;
    }
  } poll(*this, *pending);
  wait_for(poll, timeout, what);
  Bundle bundle = std::move(pending->bundle);
  for (const TensorSpec& spec : pending->specs) {
    if (spec.requires_grad) bundle[spec.name].requires_grad_(true);
  }
  std::erase_if(queue_, [&](const auto& p) { return p->ticket == ticket; });
  return bundle;
}

}  // namespace repipe
