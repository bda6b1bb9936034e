// ListJobs page tokens. Opaque to clients; inside it is the creation-order
// position of the last job returned, so the next page continues strictly
// after it even if that job (or any other) was evicted in between.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "runtime/jobs/job_order.hpp"

namespace troupe::jobs {

// Lower-case hex of: created_at_ns as 8 big-endian bytes (sign bit flipped, so
// tokens sort like their cursors), then the id's bytes.
std::string encode_page_token(const list_cursor& c);

// nullopt unless `token` is exactly what encode_page_token produces for some
// cursor with a non-empty id.
std::optional<list_cursor> decode_page_token(std::string_view token);

}  // namespace troupe::jobs
