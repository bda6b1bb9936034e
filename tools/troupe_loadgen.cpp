// troupe-loadgen: end-to-end SubmitJob load against one troupe cluster.
//   troupe-loadgen [--addr HOST:PORT] [--concurrency N] [--duration-s S] [--count N]
//                  [--command CMD] [--image IMG] [--deadline-ms MS] [--wait-leader-s S] [-o table|json]
//   troupe-loadgen --etcd [--addr HOST:PORT] [--value-bytes N] ...   (reference: etcd v3 KV.Put)
//   troupe-loadgen --mode jobs --count N ...   (submit N jobs, then wait until all are terminal)
// Keeps N SubmitJob calls in flight (gRPC callback stub, one HTTP/2 channel per
// address). Each logical submission follows "Not the leader" redirects (trailing
// metadata `leader-address`), retries RESOURCE_EXHAUSTED and UNAVAILABLE with
// exponential backoff (bounded), and counts every retry. Latency is measured per
// logical submission, from its first send to its OK reply, retries included.
// Runs for --duration-s (default 5) or until --count submissions have finished,
// whichever comes first when both are given (--count alone is capped at 600 s).
// With --etcd the same client drives etcd's KV.Put (generic stub, hand-encoded
// PutRequest, a fresh key per call) instead, as a reference measured the same way.
// --addr may list several nodes (comma-separated): an UNAVAILABLE or
// DEADLINE_EXCEEDED reply then moves on to the next one (failover runs).
// --mode jobs: submits --count jobs, then polls ListJobs totals (status
// completed, failed and cancelled, page size 1) at the leader every --poll-ms until all of
// them are terminal; reports jobs completed/s from the first submission to the
// poll that saw the last one terminal (resolution: --poll-ms).
// --success-log F: one line per OK submission, "<unix ns of the reply> <unix ns
// the successful attempt was sent>", written as they come (bench/failover.sh).
// --max-backoff-ms caps the retry backoff (default 1000).
// Against a secured cluster: --token T (or $TROUPE_TOKEN), --ca-file F, and
// optionally --cert F --key F, as for the troupe CLI.
#include <absl/synchronization/mutex.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "protocol/grpc_status_names.hpp"
#include "transport/client_credentials.hpp"
#include "scheduler.grpc.pb.h"

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::int64_t unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Set by SIGTERM/SIGINT: stop issuing, let the calls in flight finish, report.
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

struct options {
  std::string addr = "127.0.0.1:50051";
  int concurrency = 1;
  double duration_s = 5;
  bool duration_set = false;
  long long count = 0;  // 0: no count limit
  std::string command = "true";
  std::string image;  // SubmitJob's image; empty: the server's default image
  int deadline_ms = 10000;
  double wait_leader_s = 0;
  bool json_out = false;
  bool etcd = false;
  int value_bytes = 64;
  std::string token;    // --token, else $TROUPE_TOKEN
  std::string ca_file;  // TLS when set
  std::string cert_file, key_file;
  std::vector<std::string> addrs;  // --addr split at commas
  bool jobs_mode = false;           // --mode jobs
  int poll_ms = 20;
  double complete_timeout_s = 600;
  std::string success_log;
  int max_backoff_ms = 1000;
};

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "troupe-loadgen: " << msg << "\n";
  std::exit(2);
}

const char* usage_text =
    "usage: troupe-loadgen [--addr HOST:PORT] [--concurrency N] [--duration-s S] [--count N]\n"
    "                      [--command CMD] [--image IMG] [--deadline-ms MS] [--wait-leader-s S] [-o table|json]\n"
    "  --addr          one node's gRPC address; redirects to the leader are followed (default 127.0.0.1:50051)\n"
    "  --concurrency   SubmitJob calls kept in flight (default 1)\n"
    "  --duration-s    run this long (default 5; with --count, an upper bound)\n"
    "  --count         stop after this many submissions have finished (capped at 600 s without --duration-s)\n"
    "  --command       the job's command (default \"true\")\n"
    "  --image         the job's Docker image (SubmitJob image; default: the server's default image)\n"
    "  --deadline-ms   per-call gRPC deadline (default 10000)\n"
    "  --wait-leader-s first wait up to S seconds for GetClusterStatus to name a leader (default 0: don't)\n"
    "  --etcd          drive etcd's /etcdserverpb.KV/Put at --addr instead (reference); a new key per call\n"
    "  --value-bytes   value size of the etcd puts (default 64)\n"
    "  --token T       sent as \"authorization: Bearer T\" (default: $TROUPE_TOKEN)\n"
    "  --ca-file F     TLS, trusting the cluster CA in F; --cert F --key F add a client certificate\n"
    "  --mode M        submit (default): measure submissions; jobs: submit --count jobs, then wait until\n"
    "                  every one is terminal and report jobs completed/s (first submit to last completion)\n"
    "  --poll-ms MS    jobs mode: ListJobs totals poll interval (default 20)\n"
    "  --complete-timeout-s S  jobs mode: give up waiting for completion after S (default 600)\n"
    "  --success-log F for every OK reply, a line \"<reply unix ns> <that attempt's send unix ns>\" in F\n"
    "  --max-backoff-ms MS  cap of the retry backoff (default 1000)\n";

double parse_num(const std::string& flag, const std::string& v, double lo, double hi) {
  try {
    std::size_t pos = 0;
    double d = std::stod(v, &pos);
    if (pos != v.size() || !(d >= lo && d <= hi)) throw std::invalid_argument("");
    return d;
  } catch (...) {
    std::ostringstream os;
    os << flag << " must be a number in [" << lo << ", " << hi << "], got \"" << v << "\"";
    die(os.str());
  }
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("flag " + a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << usage_text;
      std::exit(0);
    } else if (a == "--addr" || a == "-a") {
      o.addr = value();
    } else if (a == "--concurrency" || a == "-c") {
      o.concurrency = static_cast<int>(parse_num(a, value(), 1, 4096));
    } else if (a == "--duration-s") {
      o.duration_s = parse_num(a, value(), 0.1, 3600);
      o.duration_set = true;
    } else if (a == "--count") {
      o.count = static_cast<long long>(parse_num(a, value(), 1, 1e9));
    } else if (a == "--command") {
      o.command = value();
    } else if (a == "--image") {
      o.image = value();
    } else if (a == "--deadline-ms") {
      o.deadline_ms = static_cast<int>(parse_num(a, value(), 10, 600000));
    } else if (a == "--wait-leader-s") {
      o.wait_leader_s = parse_num(a, value(), 0, 3600);
    } else if (a == "--etcd") {
      o.etcd = true;
    } else if (a == "--token") {
      o.token = value();
    } else if (a == "--ca-file") {
      o.ca_file = value();
    } else if (a == "--cert") {
      o.cert_file = value();
    } else if (a == "--key") {
      o.key_file = value();
    } else if (a == "--mode") {
      auto v = value();
      if (v != "submit" && v != "jobs") die("--mode takes submit or jobs");
      o.jobs_mode = v == "jobs";
    } else if (a == "--poll-ms") {
      o.poll_ms = static_cast<int>(parse_num(a, value(), 1, 10000));
    } else if (a == "--complete-timeout-s") {
      o.complete_timeout_s = parse_num(a, value(), 1, 86400);
    } else if (a == "--success-log") {
      o.success_log = value();
    } else if (a == "--max-backoff-ms") {
      o.max_backoff_ms = static_cast<int>(parse_num(a, value(), 1, 60000));
    } else if (a == "--value-bytes") {
      o.value_bytes = static_cast<int>(parse_num(a, value(), 0, 1 << 20));
    } else if (a == "-o" || a == "--output") {
      auto v = value();
      if (v != "json" && v != "table") die("-o takes table or json");
      o.json_out = v == "json";
    } else {
      die("unknown argument \"" + a + "\" (see --help)");
    }
  }
  if (o.count > 0 && !o.duration_set) o.duration_s = 600;
  if (o.token.empty())
    if (const char* env = std::getenv("TROUPE_TOKEN")) o.token = env;
  if (o.cert_file.empty() != o.key_file.empty()) die("--cert and --key go together");
  if (!o.cert_file.empty() && o.ca_file.empty()) die("--cert/--key need --ca-file");
  if (o.etcd && o.wait_leader_s > 0) die("--wait-leader-s works with troupe only");
  if (o.etcd && !o.image.empty()) die("--image works with troupe only");
  if (o.jobs_mode && o.etcd) die("--mode jobs works with troupe only");
  if (o.jobs_mode && o.count == 0) die("--mode jobs needs --count");
  {
    std::string rest = o.addr;
    for (std::size_t i = 0; i < 64 && !rest.empty(); ++i) {
      auto comma = rest.find(',');
      auto a = rest.substr(0, comma);
      if (!a.empty()) o.addrs.push_back(a);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    }
    if (o.addrs.empty()) die("--addr is empty");
    o.addr = o.addrs.front();
  }
  return o;
}


std::shared_ptr<grpc::ChannelCredentials> credentials(const options& o) {
  try {
    return troupe::transport::client_credentials(o.ca_file, o.cert_file, o.key_file);
  } catch (const std::invalid_argument& e) {
    die(std::string("--ca-file/--cert/--key: ") + e.what());
  }
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// etcdserverpb.PutRequest{key = 1, value = 2}, serialized by hand: the only
// etcd message this tool sends.
std::string etcd_put_request(const std::string& key, const std::string& value) {
  std::string out;
  out += '\x0a';
  put_varint(out, key.size());
  out += key;
  out += '\x12';
  put_varint(out, value.size());
  out += value;
  return out;
}

// Runs callbacks at a given time on one thread: backoff without blocking gRPC's
// callback threads.
class timer_thread {
 public:
  timer_thread() : th_([this] { run(); }) {}
  ~timer_thread() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    th_.join();
  }
  void at(clock_type::time_point when, std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> g(mu_);
      q_.push(item{when, seq_++, std::move(fn)});
    }
    cv_.notify_all();
  }

 private:
  struct item {
    clock_type::time_point when;
    std::uint64_t seq;
    std::function<void()> fn;
    bool operator>(const item& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  void run() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
      if (q_.empty()) {
        cv_.wait(lk);
        continue;
      }
      auto when = q_.top().when;
      if (clock_type::now() < when) {
        cv_.wait_until(lk, when);
        continue;
      }
      auto fn = q_.top().fn;
      q_.pop();
      lk.unlock();
      fn();
      lk.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<item, std::vector<item>, std::greater<item>> q_;
  std::uint64_t seq_ = 0;
  bool stop_ = false;
  std::thread th_;  // last: started once the rest is constructed
};

constexpr int max_attempts = 30;  // per logical submission (redirects and retries included)

struct stats {
  std::vector<double> latencies_ms;  // OK submissions only
  long long ok = 0;
  std::map<std::string, long long> final_errors;  // by code, submissions that gave up
  long long redirects = 0;
  long long no_leader_retries = 0;
  long long resource_exhausted_retries = 0;
  long long unavailable_retries = 0;
};

class loadgen;

// One in-flight slot: its submissions run one after another, so its stats need
// no lock (each callback happens-after the previous call's start).
struct slot {
  loadgen* lg = nullptr;
  stats st;
  std::unique_ptr<grpc::ClientContext> ctx;
  scheduler::SubmitJobRequest req;
  scheduler::SubmitJobResponse resp;
  grpc::ByteBuffer etcd_req, etcd_resp;
  std::size_t index = 0;
  std::uint64_t seq = 0;
  clock_type::time_point first_sent;
  std::string sent_to;  // the address of the current attempt
  std::int64_t attempt_sent_unix_ns = 0;  // when the current attempt was sent (--success-log)
  int attempt = 0;
  int backoff_ms = 0;
};

class loadgen {
 public:
  explicit loadgen(const options& o) : o_(o), leader_(o.addr), credentials_(credentials(o)) {
    slots_.resize(static_cast<std::size_t>(o.concurrency));
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].lg = this;
      slots_[i].index = i;
      slots_[i].req.set_command(o.command);
      if (!o.image.empty()) slots_[i].req.set_image(o.image);
    }
    if (!o.success_log.empty()) {
      success_log_ = std::fopen(o.success_log.c_str(), "w");
      if (!success_log_) die("cannot write " + o.success_log + ": " + std::strerror(errno));
    }
    if (o.etcd) {
      etcd_value_.assign(static_cast<std::size_t>(o.value_bytes), 'x');
      etcd_stub_ = std::make_unique<grpc::GenericStub>(grpc::CreateChannel(o.addr, credentials_));
      char buf[32];
      std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(
                                                   clock_type::now().time_since_epoch().count() & 0xffffffffULL));
      key_prefix_ = std::string("troupe-loadgen/") + buf + "/";
    }
  }

  bool wait_for_leader() {
    auto until = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                         std::chrono::duration<double>(o_.wait_leader_s));
    for (int i = 0; i < 100000 && clock_type::now() < until; ++i) {
      grpc::ClientContext ctx;
      authorize(ctx);
      ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(1000));
      scheduler::GetClusterStatusRequest req;
      scheduler::GetClusterStatusResponse resp;
      auto st = stub_for(o_.addr)->GetClusterStatus(&ctx, req, &resp);
      if (st.ok() && resp.leader_id() != 0) return true;
      std::this_thread::sleep_for(milliseconds(200));
    }
    return false;
  }

  void run() {
    start_ = clock_type::now();
    end_by_ = start_ + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o_.duration_s));
    active_ = o_.concurrency;
    for (auto& s : slots_) next(s);
    std::unique_lock<std::mutex> lk(done_mu_);
    // Bounded: the issuing stops at end_by_, each call has a deadline, and the
    // retries per submission are capped; allow a generous grace period anyway.
    auto hard_stop = end_by_ + milliseconds(o_.deadline_ms) * (max_attempts + 1) + std::chrono::seconds(5);
    done_cv_.wait_until(lk, hard_stop, [&] { return active_ == 0; });
    finished_ = clock_type::now();
    if (active_ != 0) {
      std::cerr << "troupe-loadgen: " << active_ << " slot(s) still busy at the hard stop\n";
      std::_Exit(3);  // callbacks may still touch the slots: do not destroy them
    }
  }

  // Jobs by status at `addr` (ListJobs totals, page size 1); -1 on error.
  long long status_total(const std::string& addr, scheduler::JobStatus st) {
    grpc::ClientContext ctx;
    authorize(ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(2000));
    scheduler::ListJobsRequest req;
    req.set_page_size(1);
    req.set_status_filter(st);
    scheduler::ListJobsResponse resp;
    auto r = stub_for(addr)->ListJobs(&ctx, req, &resp);
    return r.ok() ? static_cast<long long>(resp.total_count()) : -1;
  }
  long long terminal_total(const std::string& addr) {
    long long n = 0;
    for (auto st : {scheduler::JOB_STATUS_COMPLETED, scheduler::JOB_STATUS_FAILED, scheduler::JOB_STATUS_CANCELLED}) {
      auto v = status_total(addr, st);
      if (v < 0) return -1;
      n += v;
    }
    return n;
  }
  // Jobs mode, before run(): the terminal jobs already in the table.
  bool take_baseline() {
    baseline_terminal_ = terminal_total(o_.addr);
    baseline_failed_ = status_total(o_.addr, scheduler::JOB_STATUS_FAILED);
    return baseline_terminal_ >= 0 && baseline_failed_ >= 0;
  }
  // Jobs mode, after run(): polls the leader until every OK submission is
  // terminal, or the timeout. Bounded by --complete-timeout-s.
  void wait_terminal() {
    long long ok = 0;
    for (const auto& s : slots_) ok += s.st.ok;
    auto until = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                         std::chrono::duration<double>(o_.complete_timeout_s));
    jobs_done_ = false;
    for (long long i = 0; i < 100000000 && clock_type::now() < until && !g_stop.load(); ++i) {
      auto n = terminal_total(current_leader());
      if (n >= 0) {
        terminal_seen_ = n - baseline_terminal_;
        if (terminal_seen_ >= ok) {
          jobs_done_ = true;
          break;
        }
      }
      std::this_thread::sleep_for(milliseconds(o_.poll_ms));
    }
    all_terminal_at_ = clock_type::now();
    auto f = status_total(current_leader(), scheduler::JOB_STATUS_FAILED);
    failed_seen_ = f < 0 ? -1 : f - baseline_failed_;
  }
  void close_success_log() {
    std::lock_guard<std::mutex> g(log_mu_);
    if (success_log_) std::fclose(success_log_);
    success_log_ = nullptr;
  }

  void report() const {
    stats all;
    for (const auto& s : slots_) {
      all.ok += s.st.ok;
      all.redirects += s.st.redirects;
      all.no_leader_retries += s.st.no_leader_retries;
      all.resource_exhausted_retries += s.st.resource_exhausted_retries;
      all.unavailable_retries += s.st.unavailable_retries;
      for (const auto& [k, v] : s.st.final_errors) all.final_errors[k] += v;
      all.latencies_ms.insert(all.latencies_ms.end(), s.st.latencies_ms.begin(), s.st.latencies_ms.end());
    }
    std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
    auto pct = [&](double p) {
      if (all.latencies_ms.empty()) return 0.0;
      auto idx = static_cast<std::size_t>(p * static_cast<double>(all.latencies_ms.size() - 1) + 0.5);
      return all.latencies_ms[std::min(idx, all.latencies_ms.size() - 1)];
    };
    double elapsed = std::chrono::duration<double>(finished_ - start_).count();
    double rate = elapsed > 0 ? static_cast<double>(all.ok) / elapsed : 0;
    long long errors = 0;
    for (const auto& kv : all.final_errors) errors += kv.second;
    double mean = 0;
    for (double v : all.latencies_ms) mean += v;
    if (!all.latencies_ms.empty()) mean /= static_cast<double>(all.latencies_ms.size());

    if (o_.json_out) {
      std::ostringstream os;
      os.setf(std::ios::fixed);
      os.precision(3);
      os << "{\"target\":\"" << (o_.etcd ? "etcd" : "troupe") << "\",\"addr\":\"" << json_escape(o_.addr)
         << "\",\"leader\":\"" << json_escape(o_.etcd ? o_.addr : current_leader())
         << "\",\"concurrency\":" << o_.concurrency << ",\"command\":\"" << json_escape(o_.command)
         << "\",\"image\":\"" << json_escape(o_.image) << "\",\"elapsed_s\":" << elapsed << ",\"committed\":" << all.ok << ",\"committed_per_s\":" << rate
         << ",\"latency_ms\":{\"mean\":" << mean << ",\"p50\":" << pct(0.50) << ",\"p99\":" << pct(0.99)
         << ",\"max\":" << (all.latencies_ms.empty() ? 0.0 : all.latencies_ms.back()) << "}"
         << ",\"retries\":{\"redirect\":" << all.redirects << ",\"no_leader\":" << all.no_leader_retries
         << ",\"RESOURCE_EXHAUSTED\":" << all.resource_exhausted_retries
         << ",\"UNAVAILABLE\":" << all.unavailable_retries << "},\"errors\":{";
      bool first = true;
      for (const auto& [k, v] : all.final_errors) {
        os << (first ? "" : ",") << "\"" << k << "\":" << v;
        first = false;
      }
      os << "},\"errors_total\":" << errors;
      if (o_.jobs_mode) {
        double jel = std::chrono::duration<double>(all_terminal_at_ - start_).count();
        os << ",\"jobs\":{\"submitted\":" << all.ok << ",\"terminal\":" << terminal_seen_
           << ",\"failed\":" << failed_seen_ << ",\"all_terminal\":" << (jobs_done_ ? "true" : "false")
           << ",\"submit_s\":" << elapsed << ",\"first_submit_to_last_terminal_s\":" << jel
           << ",\"completed_per_s\":" << (jel > 0 ? static_cast<double>(terminal_seen_ - std::max(0LL, failed_seen_)) / jel : 0)
           << ",\"poll_ms\":" << o_.poll_ms << "}";
      }
      os << "}";
      std::cout << os.str() << "\n";
      return;
    }
    if (o_.etcd)
      std::printf("etcd KV.Put at %s, concurrency %d, %d-byte values\n", o_.addr.c_str(), o_.concurrency,
                  o_.value_bytes);
    else
      std::printf("addr %s (leader %s), concurrency %d, command \"%s\"\n", o_.addr.c_str(),
                  current_leader().c_str(), o_.concurrency, o_.command.c_str());
    std::printf("elapsed %.3f s, committed %lld, %.1f submitted/s\n", elapsed, all.ok, rate);
    std::printf("latency ms: mean %.3f  p50 %.3f  p99 %.3f  max %.3f\n", mean, pct(0.50), pct(0.99),
                all.latencies_ms.empty() ? 0.0 : all.latencies_ms.back());
    std::printf("retries: redirect %lld, no leader %lld, RESOURCE_EXHAUSTED %lld, UNAVAILABLE %lld\n",
                all.redirects, all.no_leader_retries, all.resource_exhausted_retries, all.unavailable_retries);
    std::printf("errors (gave up): %lld", errors);
    for (const auto& [k, v] : all.final_errors) std::printf("  %s %lld", k.c_str(), v);
    std::printf("\n");
    if (o_.jobs_mode) {
      double jel = std::chrono::duration<double>(all_terminal_at_ - start_).count();
      std::printf("jobs: %lld submitted, %lld terminal (%lld failed)%s; first submit to last terminal %.3f s: "
                  "%.1f jobs completed/s (poll %d ms)\n",
                  all.ok, terminal_seen_, failed_seen_, jobs_done_ ? "" : " -- NOT all terminal at the timeout", jel,
                  jel > 0 ? static_cast<double>(terminal_seen_ - std::max(0LL, failed_seen_)) / jel : 0, o_.poll_ms);
    }
  }

 private:
  std::shared_ptr<scheduler::SchedulerService::Stub> stub_for(const std::string& addr) {
    std::lock_guard<std::mutex> g(mu_);
    auto& s = stubs_[addr];
    if (!s) s = scheduler::SchedulerService::NewStub(grpc::CreateChannel(addr, credentials_));
    return s;
  }
  void authorize(grpc::ClientContext& ctx) const {
    if (!o_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + o_.token);
  }
  std::string current_leader() const {
    std::lock_guard<std::mutex> g(mu_);
    return leader_;
  }
  void set_leader(const std::string& addr) {
    std::lock_guard<std::mutex> g(mu_);
    leader_ = addr;
  }
  // The node at `failed` did not answer: try the next listed one, unless
  // another slot already moved on.
  void rotate_from(const std::string& failed) {
    std::lock_guard<std::mutex> g(mu_);
    if (leader_ != failed) return;
    auto it = std::find(o_.addrs.begin(), o_.addrs.end(), failed);
    std::size_t i = it == o_.addrs.end() ? 0 : static_cast<std::size_t>(it - o_.addrs.begin()) + 1;
    leader_ = o_.addrs[i % o_.addrs.size()];
  }

  // Starts the slot's next logical submission, or retires the slot.
  void next(slot& s) {
    bool more = clock_type::now() < end_by_ && !g_stop.load();
    if (more && o_.count > 0) more = issued_.fetch_add(1) < o_.count;
    if (!more) {
      std::lock_guard<std::mutex> g(done_mu_);
      if (--active_ == 0) done_cv_.notify_all();
      return;
    }
    s.attempt = 0;
    s.backoff_ms = std::min(20, o_.max_backoff_ms);
    s.first_sent = clock_type::now();
    send(s);
  }

  void send(slot& s) {
    ++s.attempt;
    if (success_log_) s.attempt_sent_unix_ns = unix_ns();
    s.ctx = std::make_unique<grpc::ClientContext>();
    if (!o_.etcd) authorize(*s.ctx);
    s.ctx->set_deadline(std::chrono::system_clock::now() + milliseconds(o_.deadline_ms));
    if (o_.etcd) {
      auto bytes = etcd_put_request(key_prefix_ + std::to_string(s.index) + "/" + std::to_string(s.seq++), etcd_value_);
      grpc::Slice slice(bytes);
      s.etcd_req = grpc::ByteBuffer(&slice, 1);
      s.etcd_resp.Clear();
      etcd_stub_->UnaryCall(s.ctx.get(), etcd_put_method_, grpc::StubOptions(), &s.etcd_req, &s.etcd_resp,
                            [this, &s](grpc::Status st) { on_reply(s, st); });
      return;
    }
    s.resp.Clear();
    s.sent_to = current_leader();
    auto stub = stub_for(s.sent_to);
    stub->async()->SubmitJob(s.ctx.get(), &s.req, &s.resp, [this, &s](grpc::Status st) { on_reply(s, st); });
  }

  void retry_later(slot& s) {
    auto delay = milliseconds(s.backoff_ms);
    s.backoff_ms = std::min(s.backoff_ms * 2, o_.max_backoff_ms);
    timers_.at(clock_type::now() + delay, [this, &s] { send(s); });
  }

  void give_up(slot& s, grpc::StatusCode code) {
    ++s.st.final_errors[troupe::grpc_code_name(code)];
    // A failing server answers fast: pace the slot so it does not spin.
    timers_.at(clock_type::now() + milliseconds(50), [this, &s] { next(s); });
  }

  void on_reply(slot& s, const grpc::Status& st) {
    if (st.ok()) {
      ++s.st.ok;
      if (success_log_) {
        auto ns = unix_ns();
        std::lock_guard<std::mutex> g(log_mu_);
        std::fprintf(success_log_, "%lld %lld\n", static_cast<long long>(ns),
                     static_cast<long long>(s.attempt_sent_unix_ns));
        std::fflush(success_log_);  // read live by bench/failover.sh
      }
      s.st.latencies_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - s.first_sent).count());
      next(s);
      return;
    }
    auto code = st.error_code();
    bool retryable_left = s.attempt < max_attempts && clock_type::now() < end_by_ + milliseconds(o_.deadline_ms);
    if (code == grpc::StatusCode::FAILED_PRECONDITION && st.error_message().rfind("Not the leader", 0) == 0) {
      if (!retryable_left) return give_up(s, code);
      const auto& md = s.ctx->GetServerTrailingMetadata();
      auto it = md.find("leader-address");
      if (it != md.end() && !it->second.empty()) {
        ++s.st.redirects;
        set_leader(std::string(it->second.data(), it->second.size()));
        send(s);
      } else {  // election in progress
        ++s.st.no_leader_retries;
        retry_later(s);
      }
      return;
    }
    bool several = o_.addrs.size() > 1 && !o_.etcd;
    if (code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::UNAVAILABLE ||
        (several && code == grpc::StatusCode::DEADLINE_EXCEEDED)) {
      if (!retryable_left) return give_up(s, code);
      if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ++s.st.resource_exhausted_retries;
      } else {
        ++s.st.unavailable_retries;
        if (several) rotate_from(s.sent_to);
      }
      retry_later(s);
      return;
    }
    give_up(s, code);
  }

  const options o_;
  mutable std::mutex mu_;
  std::string leader_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;  // TLS when --ca-file was given
  std::map<std::string, std::shared_ptr<scheduler::SchedulerService::Stub>> stubs_;
  std::vector<slot> slots_;
  std::unique_ptr<grpc::GenericStub> etcd_stub_;
  const std::string etcd_put_method_ = "/etcdserverpb.KV/Put";
  std::string etcd_value_, key_prefix_;
  std::atomic<long long> issued_{0};
  clock_type::time_point start_, end_by_, finished_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  int active_ = 0;
  long long baseline_terminal_ = 0, baseline_failed_ = 0, terminal_seen_ = 0, failed_seen_ = 0;
  bool jobs_done_ = false;
  std::mutex log_mu_;
  std::FILE* success_log_ = nullptr;  // --success-log
  clock_type::time_point all_terminal_at_;
  timer_thread timers_;  // last: destroyed first, while the slots still exist
};

}  // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  // As in troupe-node (node/bootstrap.cpp): Debian's abseil leaves the Mutex
  // deadlock detector on; it would tax the generator, which shares the cores
  // with the servers it measures (troupe and etcd alike).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  auto lg = std::make_unique<loadgen>(o);
  if (o.wait_leader_s > 0 && !lg->wait_for_leader()) {
    std::cerr << "troupe-loadgen: no leader at " << o.addr << " within " << o.wait_leader_s << " s\n";
    return 1;
  }
  if (o.jobs_mode && !lg->take_baseline()) {
    std::cerr << "troupe-loadgen: ListJobs at " << o.addr << " failed (jobs mode needs it)\n";
    return 1;
  }
  lg->run();
  if (o.jobs_mode) lg->wait_terminal();
  lg->close_success_log();
  lg->report();
  return 0;
}
