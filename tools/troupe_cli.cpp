// troupe: the command-line client.
//   troupe [-a ADDR[,ADDR...]] [-o table|json] job submit CMD [--image I] [--timeout S] [--wait]
//   troupe job status ID | job cancel ID
//   troupe job list [--status S] [--worker N] [--command SUBSTR] [--created-after-ms MS]
//                   [--created-before-ms MS] [--page-size N] [--page-token T] [--all] [--stream]
//   troupe cluster status | cluster transfer-leader [--to N] | cluster drain | cluster undrain
//   troupe log list [--start-index N] [--limit N]
//   troupe snapshot save FILE [--timeout S] | snapshot status FILE
//   troupe member add ID ADDRESS [--http ADDR] [--wire ADDR] | member remove ID | member list [--local]
// Follows "Not the leader" redirects (trailing metadata leader-address), tries
// the next address when one is down, and retries RESOURCE_EXHAUSTED with
// exponential backoff (bounded).
// Security (a cluster with [tls] and [[auth.tokens]]): --token T or
// $TROUPE_TOKEN is sent as "authorization: Bearer T"; --ca-file F turns TLS on
// and trusts F's CA; --cert/--key present a client certificate.
#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/grpc_status_names.hpp"
#include "runtime/jobs/rfc3339.hpp"
#include "tools/cli_snapshot.hpp"
#include "transport/client_credentials.hpp"
#include "membership.grpc.pb.h"
#include "scheduler.grpc.pb.h"

namespace {

using json = nlohmann::json;

struct options {
  std::vector<std::string> addrs{"127.0.0.1:50051"};
  bool json_out = false;
  std::vector<std::string> args;                 // positional
  std::map<std::string, std::string> flags;      // --flag value
  std::vector<std::string> switches;             // --wait, --all, --stream
};

[[noreturn]] void die(const std::string& msg, int code = 2) {
  std::cerr << "troupe: " << msg << "\n";
  std::exit(code);
}

const char* usage_text =
    "usage: troupe [-a ADDR[,ADDR...]] [-o table|json] COMMAND\n"
    "  job submit CMD [--image I] [--timeout S] [--wait]   submit; --wait follows it and exits with its code\n"
    "  job status ID [--linearizable]                      one job, with its output (--linearizable: ReadIndex on the leader)\n"
    "  job cancel ID\n"
    "  job list [--status S] [--worker N] [--command TEXT] [--created-after-ms MS] [--created-before-ms MS]\n"
    "           [--page-size N] [--page-token T] [--all] [--stream]\n"
    "  cluster status | cluster transfer-leader [--to N] | cluster drain | cluster undrain\n"
    "  log list [--start-index N] [--limit N]\n"
    "  snapshot save FILE [--timeout S]                     the leader's consistent snapshot of every job (admin)\n"
    "  snapshot status FILE                                verify a saved snapshot and print what it holds\n"
    "  member add ID ADDRESS [--http ADDR] [--wire ADDR]\n"
    "                                        add a node (start it with --join); it catches up as a learner,\n"
    "                                        then the leader makes it a voter; --wire: its [listen] wire\n"
    "  member remove ID                      remove a node (the leader hands leadership over first)\n"
    "  member list [--local]                 the leader's configuration (--local: the -a node's own)\n"
    "  -a/--addr takes one or several gRPC addresses (comma separated); the client follows leader redirects.\n"
    "  --token T (or $TROUPE_TOKEN)  sent as \"authorization: Bearer T\" (nodes with [[auth.tokens]])\n"
    "  --ca-file F                   TLS: trust the cluster CA in F (nodes with [tls])\n"
    "  --cert F --key F              TLS: present this client certificate\n";

options parse(int argc, char** argv) {
  options o;
  static const std::vector<std::string> switches{"--wait", "--all", "--stream", "--linearizable", "--local"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("flag " + a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << usage_text;
      std::exit(0);
    } else if (a == "-a" || a == "--addr") {
      o.addrs.clear();
      std::stringstream ss(value());
      for (std::string p; std::getline(ss, p, ',');)
        if (!p.empty()) o.addrs.push_back(p);
      if (o.addrs.empty()) die("--addr needs at least one host:port");
    } else if (a == "-o" || a == "--output") {
      auto v = value();
      if (v != "json" && v != "table") die("-o takes table or json");
      o.json_out = v == "json";
    } else if (std::find(switches.begin(), switches.end(), a) != switches.end()) {
      o.switches.push_back(a);
    } else if (a.rfind("--", 0) == 0) {
      o.flags[a] = value();
    } else {
      o.args.push_back(a);
    }
  }
  return o;
}

bool has(const options& o, const std::string& s) {
  return std::find(o.switches.begin(), o.switches.end(), s) != o.switches.end();
}

std::uint64_t num(const options& o, const std::string& flag, std::uint64_t dflt) {
  auto it = o.flags.find(flag);
  if (it == o.flags.end()) return dflt;
  try {
    std::size_t pos = 0;
    auto v = std::stoull(it->second, &pos);
    if (pos != it->second.size()) throw std::invalid_argument("");
    return v;
  } catch (...) {
    die(flag + " must be a non-negative integer, got \"" + it->second + "\"");
  }
}

const char* status_name(int s) {
  switch (s) {
    case 1: return "pending";
    case 2: return "running";
    case 3: return "completed";
    case 4: return "failed";
    case 5: return "cancelled";
    case 6: return "assigned";
  }
  return "unspecified";
}

int parse_status(const std::string& s) {
  for (int i = 1; i <= 6; ++i)
    if (s == status_name(i)) return i;
  die("unknown status \"" + s + "\" (pending, assigned, running, completed, failed, cancelled)");
}

// What the client presents: TLS channel credentials (--ca-file, --cert,
// --key) and the bearer token (--token, else $TROUPE_TOKEN).
struct security {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  std::string token;
};

security security_from(const options& o) {
  security sec;
  auto flag = [&](const char* f) { return o.flags.count(f) ? o.flags.at(f) : std::string(); };
  sec.token = flag("--token");
  if (sec.token.empty())
    if (const char* env = std::getenv("TROUPE_TOKEN")) sec.token = env;
  if (sec.token.find_first_of("\r\n") != std::string::npos) die("the token must not contain line breaks");
  auto ca = flag("--ca-file"), cert = flag("--cert"), key = flag("--key");
  if (cert.empty() != key.empty()) die("--cert and --key go together");
  if (!cert.empty() && ca.empty()) die("--cert/--key need --ca-file (client certificates are sent over TLS only)");
  try {
    sec.credentials = troupe::transport::client_credentials(ca, cert, key);
  } catch (const std::invalid_argument& e) {
    die(std::string("--ca-file/--cert/--key: ") + e.what());
  }
  return sec;
}

// Calls `rpc` on the cluster: follows leader redirects, skips dead addresses,
// retries RESOURCE_EXHAUSTED with exponential backoff.
class client {
 public:
  client(std::vector<std::string> addrs, security sec) : addrs_(std::move(addrs)), sec_(std::move(sec)) {}

  // Every call carries the token, when there is one.
  void prepare(grpc::ClientContext& ctx) const {
    if (!sec_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + sec_.token);
  }

  // Runs `attempt(address, ctx)` on the cluster, ctx prepared with the token
  // and the deadline: follows leader redirects, skips dead addresses, retries
  // RESOURCE_EXHAUSTED with exponential backoff. Any other status is final.
  template <class Attempt>
  grpc::Status with_redirects(Attempt attempt, std::chrono::seconds deadline) {
    std::vector<std::string> queue = addrs_;
    grpc::Status last(grpc::StatusCode::UNAVAILABLE, "no address to try");
    int backoff_ms = 50;
    for (int attempts = 0; attempts < 12 && !queue.empty(); ++attempts) {
      auto addr = queue.front();
      grpc::ClientContext ctx;
      prepare(ctx);
      ctx.set_deadline(std::chrono::system_clock::now() + deadline);
      last = attempt(addr, ctx);
      if (last.ok()) return last;
      auto code = last.error_code();
      if (code == grpc::StatusCode::FAILED_PRECONDITION && last.error_message().rfind("Not the leader", 0) == 0) {
        auto md = ctx.GetServerTrailingMetadata();
        auto it = md.find("leader-address");
        if (it != md.end() && it->second.size() > 0) {
          queue.insert(queue.begin(), std::string(it->second.data(), it->second.size()));
        } else {  // election in progress: wait a little, try the others
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          queue.push_back(addr);
          queue.erase(queue.begin());
        }
        continue;
      }
      if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min(backoff_ms * 2, 2000);
        continue;
      }
      if (code == grpc::StatusCode::UNAVAILABLE && queue.size() > 1) {
        queue.erase(queue.begin());
        continue;
      }
      return last;
    }
    return last;
  }

  // `fn` is a method of any generated Stub (SchedulerService, MembershipService).
  template <class Stub, class Req, class Resp>
  grpc::Status call(grpc::Status (Stub::*fn)(grpc::ClientContext*, const Req&, Resp*), const Req& req, Resp& resp,
                    std::chrono::seconds deadline = std::chrono::seconds(10)) {
    return with_redirects(
        [&](const std::string& addr, grpc::ClientContext& ctx) {
          Stub stub(channel(addr));
          resp.Clear();
          return (stub.*fn)(&ctx, req, &resp);
        },
        deadline);
  }

  std::shared_ptr<grpc::Channel> channel(const std::string& addr) const {
    return grpc::CreateChannel(addr, sec_.credentials);
  }
  // To the first address only (no redirects).
  std::shared_ptr<grpc::Channel> channel() const { return channel(addrs_.front()); }
  std::unique_ptr<scheduler::SchedulerService::Stub> stub() { return scheduler::SchedulerService::NewStub(channel()); }

 private:
  std::vector<std::string> addrs_;
  security sec_;
};

using S = scheduler::SchedulerService::Stub;
using M = troupe::membership::MembershipService::Stub;

std::string time_ms(std::int64_t ms) { return ms ? troupe::jobs::format_rfc3339_ns(ms * 1000000) : "-"; }

json info_json(const scheduler::JobInfo& j) {
  return {{"job_id", j.job_id()},
          {"command", j.command()},
          {"status", status_name(j.status())},
          {"assigned_worker", j.assigned_worker()},
          {"executed_by", j.executed_by()},
          {"exit_code", j.has_exit_code() ? json(j.exit_code()) : json(nullptr)},
          {"attempts", j.attempts()},
          {"image", j.image()},
          {"error", j.error()},
          {"created_at_ms", j.created_at_ms()},
          {"completed_at_ms", j.has_completed_at_ms() ? json(j.completed_at_ms()) : json(nullptr)}};
}

void print_job_row(const scheduler::JobInfo& j) {
  std::cout << std::left << std::setw(38) << j.job_id() << std::setw(11) << status_name(j.status()) << std::setw(7)
            << (j.assigned_worker() ? std::to_string(j.assigned_worker()) : "-") << std::setw(6)
            << (j.has_exit_code() ? std::to_string(j.exit_code()) : "-") << std::setw(37)
            << time_ms(j.created_at_ms()) << j.command().substr(0, 60) << "\n";
}

int fail(const grpc::Status& s) {
  std::cerr << "troupe: " << s.error_message() << " (" << troupe::grpc_code_name(s.error_code()) << ")\n";
  return 1;
}

int job_status(client& c, const options& o, const std::string& id, bool quiet_status = false) {
  scheduler::GetJobStatusRequest req;
  req.set_job_id(id);
  req.set_linearizable(has(o, "--linearizable"));
  scheduler::GetJobStatusResponse resp;
  auto s = c.call(&S::GetJobStatus, req, resp);
  if (!s.ok()) return fail(s);
  if (o.json_out) {
    std::cout << json{{"job_id", resp.job_id()},
                      {"status", status_name(resp.status())},
                      {"command", resp.command()},
                      {"output", resp.output()},
                      {"stderr", resp.stderr()},
                      {"error", resp.error()},
                      {"exit_code", resp.has_exit_code() ? json(resp.exit_code()) : json(nullptr)},
                      {"assigned_worker", resp.assigned_worker()},
                      {"executed_by", resp.executed_by()},
                      {"attempts", resp.attempts()},
                      {"created_at_ms", resp.created_at_ms()},
                      {"completed_at_ms", resp.has_completed_at_ms() ? json(resp.completed_at_ms()) : json(nullptr)}}
                     .dump(2)
              << "\n";
    return 0;
  }
  if (!quiet_status) {
    std::cout << "job       " << resp.job_id() << "\n"
              << "status    " << status_name(resp.status()) << "\n"
              << "command   " << resp.command() << "\n"
              << "worker    " << resp.executed_by() << "\n"
              << "exit code " << (resp.has_exit_code() ? std::to_string(resp.exit_code()) : "-") << "\n"
              << "attempts  " << resp.attempts() << "\n"
              << "created   " << time_ms(resp.created_at_ms()) << "\n"
              << "completed " << (resp.has_completed_at_ms() ? time_ms(resp.completed_at_ms()) : "-") << "\n";
    if (!resp.error().empty()) std::cout << "error     " << resp.error() << "\n";
    std::cout << "--- stdout ---\n";
  }
  std::cout << resp.output();
  if (!resp.stderr().empty()) std::cerr << resp.stderr();
  if (resp.output_truncated()) std::cerr << "troupe: output was truncated at the node's cap\n";
  return 0;
}

int wait_for(client& c, const options& o, const std::string& id) {
  // Bounded: at most 24 h of polling at 200 ms, which outlasts any job timeout.
  for (int i = 0; i < 24 * 3600 * 5; ++i) {
    scheduler::GetJobStatusRequest req;
    req.set_job_id(id);
    scheduler::GetJobStatusResponse resp;
    auto s = c.call(&S::GetJobStatus, req, resp);
    if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) return fail(s);
    auto st = resp.status();
    if (st == scheduler::JOB_STATUS_COMPLETED || st == scheduler::JOB_STATUS_FAILED ||
        st == scheduler::JOB_STATUS_CANCELLED) {
      job_status(c, o, id, true);
      if (st == scheduler::JOB_STATUS_CANCELLED) return 130;
      if (resp.has_exit_code()) return resp.exit_code();
      if (!resp.error().empty()) std::cerr << "troupe: job " << status_name(st) << ": " << resp.error() << "\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 1;
}

int job_list(client& c, const options& o) {
  if (has(o, "--stream")) {
    scheduler::StreamJobsRequest req;
    if (o.flags.count("--status")) req.set_status_filter(static_cast<scheduler::JobStatus>(parse_status(o.flags.at("--status"))));
    auto stub = c.stub();
    grpc::ClientContext ctx;
    c.prepare(ctx);
    auto reader = stub->StreamJobs(&ctx, req);
    scheduler::JobInfo j;
    while (reader->Read(&j)) {
      if (o.json_out) std::cout << info_json(j).dump() << "\n" << std::flush;
      else print_job_row(j), std::cout << std::flush;
    }
    auto s = reader->Finish();
    return s.ok() ? 0 : fail(s);
  }
  scheduler::ListJobsRequest req;
  req.set_page_size(static_cast<std::uint32_t>(num(o, "--page-size", 100)));
  if (o.flags.count("--page-token")) req.set_page_token(o.flags.at("--page-token"));
  if (o.flags.count("--status")) req.set_status_filter(static_cast<scheduler::JobStatus>(parse_status(o.flags.at("--status"))));
  req.set_worker_id_filter(num(o, "--worker", 0));
  if (o.flags.count("--command")) req.set_command_filter(o.flags.at("--command"));
  req.set_created_after_ms(static_cast<std::int64_t>(num(o, "--created-after-ms", 0)));
  req.set_created_before_ms(static_cast<std::int64_t>(num(o, "--created-before-ms", 0)));
  json all = json::array();
  if (!o.json_out)
    std::cout << std::left << std::setw(38) << "JOB" << std::setw(11) << "STATUS" << std::setw(7) << "WORKER"
              << std::setw(6) << "EXIT" << std::setw(37) << "CREATED" << "COMMAND\n";
  std::uint32_t total = 0;
  std::string next;
  for (int page = 0; page < 100000; ++page) {
    scheduler::ListJobsResponse resp;
    auto s = c.call(&S::ListJobs, req, resp);
    if (!s.ok()) return fail(s);
    total = resp.total_count();
    next = resp.next_page_token();
    for (const auto& j : resp.jobs()) {
      if (o.json_out) all.push_back(info_json(j));
      else print_job_row(j);
    }
    if (!has(o, "--all") || next.empty()) break;
    req.set_page_token(next);
  }
  if (o.json_out) std::cout << json{{"jobs", all}, {"total_count", total}, {"next_page_token", next}}.dump(2) << "\n";
  else {
    std::cout << total << " job(s) match";
    if (!next.empty() && !has(o, "--all")) std::cout << "; next page: --page-token " << next;
    std::cout << "\n";
  }
  return 0;
}

json members_json(const google::protobuf::RepeatedPtrField<troupe::membership::Member>& members) {
  json out = json::array();
  for (const auto& m : members)
    out.push_back({{"id", m.id()}, {"address", m.address()}, {"http_address", m.http_address()},
                   {"wire_address", m.wire_address()}, {"voter", m.voter()}});
  return out;
}

void print_members(const google::protobuf::RepeatedPtrField<troupe::membership::Member>& members) {
  std::cout << std::left << std::setw(6) << "NODE" << std::setw(24) << "ADDRESS" << std::setw(24) << "HTTP"
            << std::setw(24) << "WIRE" << "ROLE\n";
  for (const auto& m : members)
    std::cout << std::setw(6) << m.id() << std::setw(24) << m.address() << std::setw(24)
              << (m.http_address().empty() ? "-" : m.http_address()) << std::setw(24)
              << (m.wire_address().empty() ? "-" : m.wire_address()) << (m.voter() ? "voter" : "learner") << "\n";
}

// A change waits for its entry to commit, and removing the leader for a
// leadership transfer first: more than the default deadline.
constexpr std::chrono::seconds member_change_deadline{30};

int member_command(client& c, const options& o, const std::string& verb) {
  namespace pb = troupe::membership;
  // The node id is the third word; num() parses it with the flags' checks.
  auto node_id_arg = [&] {
    options id_only = o;
    id_only.flags["--id"] = o.args[2];
    return num(id_only, "--id", 0);
  };
  if (verb == "add") {
    if (o.args.size() != 4) die("member add needs ID ADDRESS (host:port)");
    pb::AddMemberRequest req;
    req.set_id(node_id_arg());
    req.set_address(o.args[3]);
    if (o.flags.count("--http")) req.set_http_address(o.flags.at("--http"));
    if (o.flags.count("--wire")) req.set_wire_address(o.flags.at("--wire"));
    pb::AddMemberResponse resp;
    auto s = c.call(&M::AddMember, req, resp, member_change_deadline);
    if (!s.ok()) return fail(s);
    if (o.json_out) {
      std::cout << json{{"members", members_json(resp.members())}, {"config_index", resp.config_index()}}.dump(2) << "\n";
    } else {
      std::cout << "node " << req.id() << " added as a learner at index " << resp.config_index()
                << "; it becomes a voter once caught up\n";
      print_members(resp.members());
    }
    return 0;
  }
  if (verb == "remove") {
    if (o.args.size() != 3) die("member remove needs one node id");
    pb::RemoveMemberRequest req;
    req.set_id(node_id_arg());
    pb::RemoveMemberResponse resp;
    auto s = c.call(&M::RemoveMember, req, resp, member_change_deadline);
    if (!s.ok()) return fail(s);
    if (o.json_out) {
      std::cout << json{{"members", members_json(resp.members())}, {"config_index", resp.config_index()}}.dump(2) << "\n";
    } else {
      std::cout << "node " << req.id() << " removed at index " << resp.config_index() << "; stop its process\n";
      print_members(resp.members());
    }
    return 0;
  }
  if (verb == "list") {
    pb::ListMembersRequest req;
    req.set_local(has(o, "--local"));
    pb::ListMembersResponse resp;
    grpc::Status s;
    if (req.local()) {  // exactly the node named by -a, no redirect
      auto stub = pb::MembershipService::NewStub(c.channel());
      grpc::ClientContext ctx;
      c.prepare(ctx);
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      s = stub->ListMembers(&ctx, req, &resp);
    } else {
      s = c.call(&M::ListMembers, req, resp);
    }
    if (!s.ok()) return fail(s);
    if (o.json_out) {
      std::cout << json{{"members", members_json(resp.members())}, {"config_index", resp.config_index()},
                        {"committed", resp.committed()}, {"leader_id", resp.leader_id()},
                        {"node_id", resp.node_id()}}
                       .dump(2)
                << "\n";
      return 0;
    }
    std::cout << "configuration at index " << resp.config_index() << (resp.committed() ? "" : " (not committed yet)")
              << ", leader " << resp.leader_id() << ", answered by node " << resp.node_id() << "\n";
    print_members(resp.members());
    return 0;
  }
  die("member takes add, remove or list");
}

}  // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  if (o.args.size() < 2) {
    std::cerr << usage_text;
    return 2;
  }
  client c(o.addrs, security_from(o));
  const auto& group = o.args[0];
  const auto& verb = o.args[1];
  if (group == "job" && verb == "submit") {
    if (o.args.size() < 3) die("job submit needs a command");
    std::string cmd;
    for (std::size_t i = 2; i < o.args.size(); ++i) cmd += (i > 2 ? " " : "") + o.args[i];
    scheduler::SubmitJobRequest req;
    req.set_command(cmd);
    if (o.flags.count("--image")) req.set_image(o.flags.at("--image"));
    req.set_timeout_s(static_cast<std::uint32_t>(num(o, "--timeout", 0)));
    scheduler::SubmitJobResponse resp;
    auto s = c.call(&S::SubmitJob, req, resp);
    if (!s.ok()) return fail(s);
    if (o.json_out && !has(o, "--wait")) std::cout << json{{"job_id", resp.job_id()}, {"created_at_ms", resp.created_at_ms()}}.dump() << "\n";
    else if (!has(o, "--wait")) std::cout << resp.job_id() << "\n";
    else std::cerr << "job " << resp.job_id() << " submitted\n";
    return has(o, "--wait") ? wait_for(c, o, resp.job_id()) : 0;
  }
  if (group == "job" && verb == "status") {
    if (o.args.size() != 3) die("job status needs one job id");
    return job_status(c, o, o.args[2]);
  }
  if (group == "job" && verb == "cancel") {
    if (o.args.size() != 3) die("job cancel needs one job id");
    scheduler::CancelJobRequest req;
    req.set_job_id(o.args[2]);
    scheduler::CancelJobResponse resp;
    auto s = c.call(&S::CancelJob, req, resp);
    if (!s.ok()) return fail(s);
    std::cout << (o.json_out ? json{{"success", resp.success()}, {"message", resp.message()}}.dump() : resp.message()) << "\n";
    return 0;
  }
  if (group == "job" && verb == "list") return job_list(c, o);
  if (group == "member") return member_command(c, o, verb);
  if (group == "cluster" && verb == "status") {
    scheduler::GetClusterStatusResponse resp;
    auto s = c.call(&S::GetClusterStatus, scheduler::GetClusterStatusRequest{}, resp);
    if (!s.ok()) return fail(s);
    if (o.json_out) {
      json nodes = json::array();
      for (const auto& n : resp.nodes())
        nodes.push_back({{"node_id", n.node_id()}, {"address", n.address()}, {"is_alive", n.is_alive()},
                         {"role", n.role()}, {"draining", n.draining()}, {"executor_ok", n.executor_ok()},
                         {"running_jobs", n.running_jobs()}, {"match_index", n.match_index()}});
      std::cout << json{{"leader_id", resp.leader_id()}, {"current_term", resp.current_term()},
                        {"commit_index", resp.commit_index()}, {"last_applied", resp.last_applied()},
                        {"log_length", resp.log_length()}, {"nodes", nodes}}
                       .dump(2)
                << "\n";
      return 0;
    }
    std::cout << "leader " << resp.leader_id() << ", term " << resp.current_term() << ", commit index "
              << resp.commit_index() << ", log length " << resp.log_length() << "\n";
    std::cout << std::left << std::setw(6) << "NODE" << std::setw(24) << "ADDRESS" << std::setw(10) << "ROLE"
              << std::setw(7) << "ALIVE" << std::setw(10) << "DRAINING" << std::setw(10) << "EXECUTOR"
              << std::setw(9) << "RUNNING" << "MATCH\n";
    for (const auto& n : resp.nodes())
      std::cout << std::setw(6) << n.node_id() << std::setw(24) << n.address() << std::setw(10) << n.role()
                << std::setw(7) << (n.is_alive() ? "yes" : "no") << std::setw(10) << (n.draining() ? "yes" : "no")
                << std::setw(10) << (n.executor_ok() ? "ok" : "down") << std::setw(9) << n.running_jobs()
                << n.match_index() << "\n";
    return 0;
  }
  if (group == "cluster" && verb == "transfer-leader") {
    scheduler::TransferLeadershipRequest req;
    req.set_target_node_id(num(o, "--to", 0));
    scheduler::TransferLeadershipResponse resp;
    auto s = c.call(&S::TransferLeadership, req, resp, std::chrono::seconds(15));
    if (!s.ok()) return fail(s);
    std::cout << (o.json_out ? json{{"success", resp.success()}, {"message", resp.message()},
                                    {"new_leader_id", resp.new_leader_id()}}.dump()
                             : resp.message())
              << "\n";
    return resp.success() ? 0 : 1;
  }
  if (group == "cluster" && verb == "drain") {
    auto stub = c.stub();
    grpc::ClientContext ctx;
    c.prepare(ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
    scheduler::DrainNodeResponse resp;
    auto s = stub->DrainNode(&ctx, {}, &resp);
    if (!s.ok()) return fail(s);
    std::cout << (o.json_out ? json{{"success", resp.success()}, {"message", resp.message()}, {"timed_out", resp.timed_out()}}.dump()
                             : resp.message())
              << "\n";
    return resp.timed_out() ? 1 : 0;
  }
  if (group == "cluster" && verb == "undrain") {
    // Like drain, asked of the node given with -a (the first address): it
    // returns that node to service.
    auto stub = c.stub();
    grpc::ClientContext ctx;
    c.prepare(ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    scheduler::UndrainNodeResponse resp;
    auto s = stub->UndrainNode(&ctx, {}, &resp);
    if (!s.ok()) return fail(s);
    std::cout << (o.json_out ? json{{"success", resp.success()}, {"message", resp.message()}}.dump() : resp.message())
              << "\n";
    return resp.success() ? 0 : 1;
  }
  if (group == "log" && verb == "list") {
    scheduler::GetRaftLogEntriesRequest req;
    req.set_start_index(num(o, "--start-index", 0));
    req.set_limit(static_cast<std::uint32_t>(num(o, "--limit", 100)));
    scheduler::GetRaftLogEntriesResponse resp;
    auto s = c.call(&S::GetRaftLogEntries, req, resp);
    if (!s.ok()) return fail(s);
    if (o.json_out) {
      json entries = json::array();
      for (const auto& e : resp.entries())
        entries.push_back({{"index", e.index()}, {"term", e.term()}, {"kind", e.kind()},
                           {"is_committed", e.is_committed()}, {"command", e.command().ShortDebugString()}});
      std::cout << json{{"entries", entries}, {"commit_index", resp.commit_index()},
                        {"last_log_index", resp.last_log_index()},
                        {"first_available_index", resp.first_available_index()}}
                       .dump(2)
                << "\n";
      return 0;
    }
    std::cout << "commit index " << resp.commit_index() << ", last index " << resp.last_log_index()
              << ", first available " << resp.first_available_index() << "\n";
    for (const auto& e : resp.entries())
      std::cout << std::setw(8) << e.index() << std::setw(6) << e.term() << (e.is_committed() ? " C " : "   ")
                << (e.kind() == "noop" ? std::string("noop") : e.command().ShortDebugString()) << "\n";
    return 0;
  }
  if (group == "snapshot" && verb == "save") {
    if (o.args.size() != 3) die("snapshot save needs one FILE");
    const auto timeout = std::chrono::seconds(num(o, "--timeout", 300));
    return troupe::cli::snapshot_save(o.args[2], o.json_out, [&](const troupe::cli::snapshot_attempt& attempt) {
      return c.with_redirects(
          [&](const std::string& addr, grpc::ClientContext& ctx) { return attempt(c.channel(addr), ctx); }, timeout);
    });
  }
  if (group == "snapshot" && verb == "status") {
    if (o.args.size() != 3) die("snapshot status needs one FILE");
    return troupe::cli::snapshot_status(o.args[2], o.json_out);
  }
  std::cerr << usage_text;
  return 2;
}
