// common/seed.h: seeds derived from (seed, step, micro-batch, block name), never one global stream.
//
// Every random draw in repipe (weights, data, dropout) gets its own seed from these
// functions, so the numbers do not depend on how blocks are spread over stages.
#pragma once

#include <cstdint>
#include <string_view>

namespace repipe {

// splitmix64 finaliser over the combination of two words: a well-mixed 64-bit seed.
constexpr std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A random 64-bit word scaled to [0, n) (n > 0): the high half of word * n, so no division;
// the bias is below n / 2^64, nothing for any n repipe draws.
constexpr std::int64_t scale_below(std::uint64_t word, std::int64_t n) {
  return static_cast<std::int64_t>(
      (static_cast<unsigned __int128>(word) * static_cast<std::uint64_t>(n)) >> 64);
}

// FNV-1a of a name: stable across processes and builds (std::hash is not).
constexpr std::uint64_t hash_name(std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace repipe
