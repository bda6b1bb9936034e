#include "runtime/exec/job.hpp"

namespace troupe::exec {

const char* to_string(outcome o) {
  switch (o) {
    case outcome::completed: return "completed";
    case outcome::failed: return "failed";
    case outcome::cancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace troupe::exec
