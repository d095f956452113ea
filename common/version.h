// common/version.h: repipe's version and the git commit it was built from.
#pragma once

namespace repipe {

const char* repipe_version();     // "0.1.0"
const char* repipe_git_commit();  // full hash, with "-dirty" for uncommitted changes; "unknown"

}  // namespace repipe
