// The dashboard's files (index.html, app.js, style.css in this folder),
// compiled into the binary by embed.cmake so the node serves them with no
// file system access and no network: the page works offline.
#pragma once

#include <string_view>
#include <vector>

namespace troupe::dashboard {

struct asset {
  const char* path;          // URL path, e.g. "/app.js"
  const char* content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

// Every embedded file; defined in the generated dashboard_assets.cpp.
const std::vector<asset>& assets();

}  // namespace troupe::dashboard
