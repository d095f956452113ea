// common/error.h: repipe's error vocabulary, in three tiers.
//
//  1. UsageError: bad user input (flag, config, plan, profile, dataset). The command prints its
//     one-line message and exits with code 2. The message names the file or flag, the key and
//     what was expected.
//  2. REPIPE_CHECK: an invariant of repipe itself broke. Throws InternalError with file:line
//     and the failed condition; the command exits 1.
//  3. Library return codes (MPI, CUDA, NCCL) are turned into InternalError at the call site
//     by the wrappers of the layer that owns them.
// Library code never calls exit(): only launch/ turns exceptions into exit codes.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace repipe {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exit code for bad input, shared by every subcommand.
inline constexpr int kUsageExitCode = 2;

namespace detail {
[[noreturn]] void throw_check_failure(const char* file, int line, const char* condition,
                                      const std::string& message);
}  // namespace detail

}  // namespace repipe

// REPIPE_CHECK(cond, "context" << value): throws InternalError("file:line: check failed: cond:
// context").
#define REPIPE_CHECK(cond, message)                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::ostringstream repipe_check_stream_;                           \
      repipe_check_stream_ << message;                                   \
      ::repipe::detail::throw_check_failure(__FILE__, __LINE__, #cond,   \
                                            repipe_check_stream_.str()); \
    }                                                                    \
  } while (0)
