// Job output is bytes; proto `string` fields and JSON must carry valid UTF-8
// (issue 11: invalid UTF-8 in a job's output made GetJobStatus fail to
// deserialize on the client). The raw bytes stay stored as they are; these
// helpers make the copy that goes into a text field.
#pragma once

#include <string>
#include <string_view>

namespace troupe::utf8 {

// True when s is well-formed UTF-8 (Unicode Table 3-7: no overlong forms, no
// surrogates, nothing above U+10FFFF, no truncated sequences).
bool is_valid(std::string_view s);

// s with every ill-formed sequence replaced by U+FFFD, one U+FFFD per
// "maximal subpart" (Unicode §3.9 / WHATWG Encoding Standard), so "\xE2\x82"
// + "A" gives U+FFFD "A", and "\xFF\xFE" gives two U+FFFD. Valid input is
// returned unchanged.
std::string valid(std::string_view s);

}  // namespace troupe::utf8
