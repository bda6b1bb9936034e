#include "tests/chaos/clients.hpp"

#include <algorithm>
#include <functional>
#include <random>

#include <grpcpp/grpcpp.h>

#include "protocol/grpc_status_names.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::chaos {
namespace {

using stub_type = scheduler::SchedulerService::Stub;
using rpc_fn = std::function<grpc::Status(stub_type&, grpc::ClientContext&)>;

constexpr int max_attempts = 12;  // per operation: redirects, backoffs and unsent retries together

std::string trailer(const grpc::ClientContext& ctx, const std::string& key) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(key);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

// gRPC says this only when no connection could be made, i.e. the request was
// never sent: the one UNAVAILABLE that is a definite "not committed".
bool never_sent(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::UNAVAILABLE &&
         st.error_message().find("failed to connect to all addresses") != std::string::npos;
}

// The UNAVAILABLE answers that say the operation was not committed and will
// not be: a draining node refuses before proposing, a leader mid-transfer
// refuses before proposing, and a proposal whose index now holds another
// leader's entry can never commit. Counting them as refusals (retried) lets
// the checker test those claims: a job whose submit got one must not exist
// (phantoms), and a retried token must not end up in two jobs (duplicates).
bool refused_unavailable(const grpc::Status& st) {
  if (st.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  const auto& m = st.error_message();
  return m.find("is draining and accepts no new jobs") != std::string::npos ||
         m.find("leadership transfer in progress") != std::string::npos ||
         m.find("was replaced by another leader's before it committed") != std::string::npos;
}

// One thread's state: its stubs (own channels) and where it believes the leader is.
struct session {
  std::vector<std::unique_ptr<stub_type>> stubs;
  std::size_t target = 1;
  std::mt19937_64 rng;
  history* h = nullptr;
  int deadline_ms = 4000;
  const std::atomic<bool>* stop = nullptr;

  std::size_t random_node() { return std::uniform_int_distribution<std::size_t>(1, stubs.size())(rng); }

  void sleep_ms(int ms) {
    for (int waited = 0; waited < ms && !*stop; waited += 20) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // Drives one operation to a definite answer or to the first attempt whose
  // fate is unknown; never re-sends after such an attempt, since the re-send
  // could commit a second time.
  outcome run(const rpc_fn& rpc, std::string& last_code) {
    int backoff = 50;
    for (int attempt = 0; attempt < max_attempts && !*stop; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
      auto st = rpc(*stubs[target - 1], ctx);
      last_code = grpc_code_name(st.error_code());
      h->attempt(last_code);
      switch (st.error_code()) {
        case grpc::StatusCode::OK:
          return outcome::ok;
        case grpc::StatusCode::FAILED_PRECONDITION: {
          if (st.error_message().rfind("Not the leader", 0) != 0) return outcome::refused;  // e.g. already terminal
          // leader-address names the leader as the answering node dials it, which
          // here is a proxy link; clients talk to nodes directly, so use leader-id.
          std::size_t leader = 0;
          try {
            leader = std::stoul(trailer(ctx, "leader-id"));
          } catch (const std::exception&) {
          }
          if (leader >= 1 && leader <= stubs.size() && leader != target) {
            target = leader;
          } else {
            sleep_ms(backoff);
            backoff = std::min(backoff * 2, 1000);
            target = random_node();
          }
          continue;
        }
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
          sleep_ms(backoff);
          backoff = std::min(backoff * 2, 1000);
          continue;
        case grpc::StatusCode::NOT_FOUND:
        case grpc::StatusCode::INVALID_ARGUMENT:
          return outcome::refused;
        default:
          if (!never_sent(st) && !refused_unavailable(st)) return outcome::indeterminate;
          sleep_ms(backoff);
          backoff = std::min(backoff * 2, 1000);
          target = random_node();
          continue;
      }
    }
    last_code = "GAVE_UP_AFTER_" + last_code;
    return outcome::refused;
  }
};

}  // namespace

clients::clients(client_options opts, history& h) : opts_(std::move(opts)), history_(h) {}

clients::~clients() { stop(); }

void clients::start() {
  for (std::size_t i = 0; i < opts_.threads; ++i) threads_.emplace_back([this, i] { run(i); });
}

void clients::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void clients::run(std::size_t index) {
  session s;
  for (const auto& a : opts_.node_addresses) s.stubs.push_back(integration::make_stub(a, opts_.security));
  s.rng.seed(opts_.seed * 1000003 + index);
  s.h = &history_;
  s.deadline_ms = opts_.call_deadline_ms;
  s.stop = &stop_;
  s.target = s.random_node();
  std::vector<std::string> mine;  // this thread's acknowledged job ids, the cancel candidates
  std::uniform_int_distribution<int> percent(0, 99);
  for (std::uint64_t n = 0; !stop_ && n < 10000000; ++n) {
    if (!mine.empty() && percent(s.rng) < 15) {
      // Cancel one of the recent jobs: some are still queued or running.
      auto from = mine.size() > 30 ? mine.size() - 30 : 0;
      cancel_op op;
      op.job_id = mine[std::uniform_int_distribution<std::size_t>(from, mine.size() - 1)(s.rng)];
      op.result = s.run([&](stub_type& stub, grpc::ClientContext& ctx) {
        scheduler::CancelJobRequest req;
        req.set_job_id(op.job_id);
        scheduler::CancelJobResponse resp;
        return stub.CancelJob(&ctx, req, &resp);
      }, op.last_code);
      history_.add(std::move(op));
    } else {
      submit_op op;
      op.token = "tok-" + opts_.run_tag + "-" + std::to_string(index) + "-" + std::to_string(n);
      // A third of the jobs run long enough to be cancelled while running.
      op.command = "echo " + op.token + " >> " + opts_.runs_file + "; " + (percent(s.rng) < 33 ? "sleep 1; " : "") +
                   "echo " + op.token;
      scheduler::SubmitJobResponse resp;
      op.result = s.run([&](stub_type& stub, grpc::ClientContext& ctx) {
        scheduler::SubmitJobRequest req;
        req.set_command(op.command);
        return stub.SubmitJob(&ctx, req, &resp);
      }, op.last_code);
      auto at = steady::now();
      if (op.result == outcome::ok) {
        op.job_id = resp.job_id();
        mine.push_back(op.job_id);
      }
      history_.add(std::move(op), at);
    }
    s.sleep_ms(std::uniform_int_distribution<int>(opts_.pause_ms / 2, opts_.pause_ms * 3 / 2)(s.rng));
  }
}

}  // namespace troupe::chaos
