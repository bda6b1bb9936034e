#include "tests/integration/client.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <curl/curl.h>
#include <grpcpp/grpcpp.h>

#include "tests/integration/cluster.hpp"

namespace troupe::integration {

grpc::Status submit(scheduler::SchedulerService::Stub& s, const std::string& command,
                    scheduler::SubmitJobResponse* out, milliseconds deadline) {
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  scheduler::SubmitJobRequest req;
  req.set_command(command);
  scheduler::SubmitJobResponse resp;
  auto st = s.SubmitJob(&ctx, req, &resp);
  if (out) *out = resp;
  return st;
}

concurrent_submits submit_concurrently(scheduler::SchedulerService::Stub& s, const std::vector<std::string>& commands,
                                       milliseconds deadline, milliseconds wait) {
  struct call {
    grpc::ClientContext ctx;
    scheduler::SubmitJobRequest req;
    scheduler::SubmitJobResponse resp;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<call>> calls;
  std::atomic<std::size_t> outstanding{commands.size()};
  for (const auto& command : commands) {
    auto c = std::make_unique<call>();
    set_deadline(c->ctx, deadline);
    c->req.set_command(command);
    calls.push_back(std::move(c));
  }
  for (auto& c : calls) {
    auto* p = c.get();
    s.async()->SubmitJob(&p->ctx, &p->req, &p->resp, [p, &outstanding](grpc::Status st) {
      p->status = std::move(st);
      --outstanding;
    });
  }
  auto settled = [&] { return outstanding.load() == 0; };
  concurrent_submits out;
  out.all_answered = wait_until(wait, settled, milliseconds(10));
  if (!out.all_answered) {
    for (auto& c : calls) c->ctx.TryCancel();
    wait_until(deadline, settled, milliseconds(10));
  }
  for (auto& c : calls) out.statuses.push_back(c->status);
  return out;
}

grpc::Status job_status(scheduler::SchedulerService::Stub& s, const std::string& id,
                        scheduler::GetJobStatusResponse* out, milliseconds deadline) {
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  scheduler::GetJobStatusRequest req;
  req.set_job_id(id);
  return s.GetJobStatus(&ctx, req, out);
}

grpc::Status cancel(scheduler::SchedulerService::Stub& s, const std::string& id, scheduler::CancelJobResponse* out,
                    milliseconds deadline) {
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  scheduler::CancelJobRequest req;
  req.set_job_id(id);
  scheduler::CancelJobResponse resp;
  auto st = s.CancelJob(&ctx, req, &resp);
  if (out) *out = resp;
  return st;
}

grpc::Status list(scheduler::SchedulerService::Stub& s, const scheduler::ListJobsRequest& req,
                  scheduler::ListJobsResponse* out, milliseconds deadline) {
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  return s.ListJobs(&ctx, req, out);
}

std::vector<scheduler::JobInfo> list_all(scheduler::SchedulerService::Stub& s, scheduler::ListJobsRequest req) {
  std::vector<scheduler::JobInfo> out;
  req.set_page_size(1000);
  req.clear_page_token();
  for (int page = 0; page < 1000; ++page) {
    scheduler::ListJobsResponse resp;
    auto st = list(s, req, &resp);
    if (!st.ok()) throw std::runtime_error("ListJobs failed: " + st.error_message());
    for (const auto& j : resp.jobs()) out.push_back(j);
    if (resp.next_page_token().empty()) return out;
    req.set_page_token(resp.next_page_token());
  }
  throw std::runtime_error("ListJobs: more than 1000 pages");
}

bool is_terminal(scheduler::JobStatus st) {
  return st == scheduler::JOB_STATUS_COMPLETED || st == scheduler::JOB_STATUS_FAILED ||
         st == scheduler::JOB_STATUS_CANCELLED;
}

scheduler::GetJobStatusResponse wait_for_job(scheduler::SchedulerService::Stub& s, const std::string& id,
                                             milliseconds timeout, scheduler::JobStatus want) {
  scheduler::GetJobStatusResponse last;
  wait_until(timeout, [&] {
    scheduler::GetJobStatusResponse r;
    if (!job_status(s, id, &r).ok()) return false;
    last = r;
    return want == scheduler::JOB_STATUS_UNSPECIFIED ? is_terminal(r.status()) : r.status() == want;
  }, milliseconds(100));
  return last;
}

bool looks_like_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {
std::size_t collect(char* p, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}
std::size_t collect_header(char* p, std::size_t size, std::size_t n, void* user) {
  std::string line(p, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (!line.empty()) static_cast<std::vector<std::string>*>(user)->push_back(std::move(line));
  return size * n;
}

bool iequals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}
}  // namespace

std::string header(const http_reply& r, const std::string& name) {
  for (const auto& h : r.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || !iequals(h.substr(0, colon), name)) continue;
    auto v = h.find_first_not_of(' ', colon + 1);
    return v == std::string::npos ? std::string() : h.substr(v);
  }
  return {};
}

http_reply http(const std::string& method, const std::string& url, const std::string& body, milliseconds timeout,
                const std::string& ca_file) {
  http_reply out;
  CURL* c = curl_easy_init();
  if (!c) {
    out.error = "curl_easy_init failed";
    return out;
  }
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &out.headers);
  if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  if (method == "POST" || method == "PUT") {
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  auto rc = curl_easy_perform(c);
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.code);
  else
    out.error = curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return out;
}

process_result run_process(const std::vector<std::string>& argv, milliseconds timeout) {
  process_result out;
  char path[] = "/tmp/troupe-integ-out-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) throw std::runtime_error(std::string("mkstemp: ") + std::strerror(errno));
  std::vector<const char*> args;
  for (const auto& a : argv) args.push_back(a.c_str());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execv(args[0], const_cast<char* const*>(args.data()));
    ::_exit(127);
  }
  ::close(fd);
  int status = 0;
  bool exited = wait_until(timeout, [&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, milliseconds(20));
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  } else if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
  }
  std::ifstream f(path);
  std::ostringstream s;
  s << f.rdbuf();
  out.output = s.str();
  ::unlink(path);
  return out;
}

}  // namespace troupe::integration
