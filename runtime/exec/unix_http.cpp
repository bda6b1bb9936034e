#include "runtime/exec/unix_http.hpp"

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <sys/stat.h>

namespace troupe::exec {

namespace {

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

struct transfer {
  const http_request* req;
  http_response* resp;
};

size_t on_write(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t n = size * nmemb;
  if (t->req->on_body)
    t->req->on_body(std::string_view(data, n));
  else
    t->resp->body.append(data, n);
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<transfer*>(user);
  if (t->req->should_abort && t->req->should_abort()) {
    t->resp->aborted = true;
    return 1;
  }
  return 0;
}

}  // namespace

unix_http_client::unix_http_client(std::string socket_path) : socket_path_(std::move(socket_path)) {}

http_response unix_http_client::perform(const http_request& req) const {
  global_init_once();
  http_response resp;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), &curl_easy_cleanup);
  if (!h) {
    resp.transport_error = "curl_easy_init failed";
    return resp;
  }
  transfer t{&req, &resp};
  std::string url = "http://docker" + req.target;  // host is ignored on a unix socket
  curl_slist* headers = nullptr;
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(nullptr, &curl_slist_free_all);
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // we run on many threads
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  if (req.method == "POST" || !req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    headers = curl_slist_append(headers, ("Content-Type: " + req.content_type).c_str());
    header_guard.reset(headers);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  }
  if (req.timeout.count() > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (req.should_abort) {
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  resp.connected = rc != CURLE_COULDNT_CONNECT;
  if (rc != CURLE_OK) {
    resp.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    resp.transport_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (!resp.connected) {
      struct stat st;
      if (::stat(socket_path_.c_str(), &st) != 0) resp.transport_error += " (socket file does not exist)";
    }
  }
  return resp;
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
        ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

}  // namespace troupe::exec
