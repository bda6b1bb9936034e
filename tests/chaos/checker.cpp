#include "tests/chaos/checker.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/jobs/rfc3339.hpp"
#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::chaos {
namespace {

using nlohmann::json;

constexpr std::size_t max_details = 12;  // findings printed per kind; the counts hold the rest

std::string status_name(scheduler::JobStatus s) {
  std::string n = scheduler::JobStatus_Name(s);
  const std::string prefix = "JOB_STATUS_";
  if (n.rfind(prefix, 0) == 0) n = n.substr(prefix.size());
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n;
}

// gRPC's JobInfo has started_at only in milliseconds, REST in nanoseconds:
// both are cut to "2026-01-28T12:45:41.231" for comparing.
std::string started_ms(const std::string& rfc3339) { return rfc3339.substr(0, 23); }

job_record from_grpc(const scheduler::JobInfo& j) {
  job_record r;
  r.id = j.job_id();
  r.command = j.command();
  r.status = status_name(j.status());
  r.error = j.error();
  r.image = j.image();
  r.created_at = jobs::format_rfc3339_ns(j.created_at_ns());
  if (j.has_started_at_ms()) r.started_at = started_ms(jobs::format_rfc3339_ns(j.started_at_ms() * 1000000));
  if (j.has_completed_at_ns()) r.completed_at = jobs::format_rfc3339_ns(j.completed_at_ns());
  r.executed_by = j.executed_by();
  r.assigned_worker = j.assigned_worker();
  r.attempts = j.attempts();
  if (j.has_exit_code()) r.exit_code = j.exit_code();
  return r;
}

std::string str_or_empty(const json& j, const char* k) {
  auto it = j.find(k);
  return it == j.end() || it->is_null() ? std::string() : it->get<std::string>();
}
std::uint64_t u64_or_zero(const json& j, const char* k) {
  auto it = j.find(k);
  return it == j.end() || it->is_null() ? 0 : it->get<std::uint64_t>();
}

job_record from_rest(const json& j) {
  job_record r;
  r.id = str_or_empty(j, "id");
  r.command = str_or_empty(j, "command");
  r.status = str_or_empty(j, "status");
  r.error = str_or_empty(j, "error");
  r.image = str_or_empty(j, "image");
  r.created_at = str_or_empty(j, "created_at");
  r.started_at = started_ms(str_or_empty(j, "started_at"));
  r.completed_at = str_or_empty(j, "completed_at");
  r.executed_by = u64_or_zero(j, "executed_by");
  r.assigned_worker = u64_or_zero(j, "assigned_worker");
  r.attempts = u64_or_zero(j, "attempts");
  if (auto it = j.find("exit_code"); it != j.end() && !it->is_null()) r.exit_code = it->get<std::int32_t>();
  r.output = str_or_empty(j, "output");
  return r;
}

view read_grpc(std::uint64_t node, const std::string& address, const std::string& ca_file) {
  view v;
  v.name = "node" + std::to_string(node) + "/grpc";
  try {
    auto stub = integration::make_stub(address, integration::client_security{ca_file, "", "", ""});
    for (const auto& j : integration::list_all(*stub, scheduler::ListJobsRequest{})) v.jobs[j.job_id()] = from_grpc(j);
    v.ok = true;
  } catch (const std::exception& e) {
    v.error = e.what();
  }
  return v;
}

view read_rest(std::uint64_t node, const std::string& address, const std::string& ca_file) {
  view v;
  v.name = "node" + std::to_string(node) + "/rest";
  std::string token;
  for (int page = 0; page < 1000; ++page) {
    auto url = (ca_file.empty() ? "http://" : "https://") + address + "/api/jobs?page_size=1000" +
               (token.empty() ? "" : "&page_token=" + token);
    auto r = integration::http("GET", url, "", std::chrono::milliseconds(10000), ca_file);
    if (r.code != 200) {
      v.error = "GET " + url + ": " + (r.code ? std::to_string(r.code) + " " + r.body : r.error);
      return v;
    }
    try {
      for (const auto& j : json::parse(r.body)) {
        auto rec = from_rest(j);
        v.jobs[rec.id] = std::move(rec);
      }
    } catch (const std::exception& e) {
      v.error = "GET " + url + ": bad JSON: " + e.what();
      return v;
    }
    token = integration::header(r, "X-Next-Page-Token");
    if (token.empty()) {
      v.ok = true;
      return v;
    }
  }
  v.error = "more than 1000 pages";
  return v;
}

std::string token_of(const std::string& command) {
  auto at = command.find("tok-");
  if (at == std::string::npos) return {};
  auto end = command.find_first_of(" ;\n", at);
  return command.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

void note(verdict& v, std::map<std::string, std::size_t>& per_kind, const std::string& kind, const std::string& text) {
  if (per_kind[kind]++ < max_details) v.details.push_back(kind + ": " + text);
}

}  // namespace

std::string job_record::common_fields() const {
  std::ostringstream s;
  s << "status=" << status << " exit_code=" << (exit_code ? std::to_string(*exit_code) : "null")
    << " executed_by=" << executed_by << " assigned_worker=" << assigned_worker << " attempts=" << attempts
    << " created_at=" << created_at << " started_at=" << started_at << " completed_at=" << completed_at
    << " image=" << image << " error=\"" << error << "\" command=\"" << command << "\"";
  return s.str();
}

std::vector<view> read_views(const read_options& o) {
  std::vector<view> out;
  for (std::size_t i = 0; i < o.grpc_addresses.size(); ++i) {
    out.push_back(read_grpc(i + 1, o.grpc_addresses[i], o.ca_file));
    out.push_back(read_rest(i + 1, o.http_addresses[i], o.ca_file));
  }
  return out;
}

std::map<std::string, long> read_runs(const std::string& path) {
  std::map<std::string, long> out;
  std::ifstream f(path);
  std::string line;
  for (long i = 0; i < 100000000 && std::getline(f, line); ++i) ++out[line];
  return out;
}

verdict judge(const std::vector<view>& views, const std::vector<submit_op>& submits,
              const std::vector<cancel_op>& cancels, const std::map<std::string, long>& runs) {
  verdict v;
  std::map<std::string, std::size_t> per_kind;
  std::vector<const view*> readable;
  for (const auto& w : views) {
    if (w.ok) {
      readable.push_back(&w);
    } else {
      ++v.unreadable_views;
      note(v, per_kind, "unreadable", w.name + ": " + w.error);
    }
  }

  v.operations = static_cast<long>(submits.size() + cancels.size());
  std::map<std::string, const submit_op*> by_token;
  for (const auto& s : submits) {
    by_token[s.token] = &s;
    if (s.result == outcome::ok) ++v.acknowledged;
    if (s.result == outcome::indeterminate) ++v.indeterminate;
    if (s.result == outcome::refused) ++v.refused;
  }
  for (const auto& c : cancels) {
    if (c.result == outcome::indeterminate) ++v.indeterminate;
    if (c.result == outcome::refused) ++v.refused;
  }

  // Every job any view holds, with its record in each view that holds it.
  std::map<std::string, std::vector<std::pair<const view*, const job_record*>>> all;
  for (const view* w : readable)
    for (const auto& [id, rec] : w->jobs) all[id].push_back({w, &rec});
  v.jobs = static_cast<long>(all.size());

  // lost: an acknowledged id missing from a view, or naming another command.
  for (const auto& s : submits) {
    if (s.result != outcome::ok) continue;
    std::string missing;
    for (const view* w : readable) {
      auto it = w->jobs.find(s.job_id);
      if (it == w->jobs.end())
        missing += " " + w->name;
      else if (it->second.command != s.command)
        missing += " " + w->name + "(holds \"" + it->second.command + "\")";
    }
    if (!missing.empty()) {
      ++v.lost;
      note(v, per_kind, "lost", "job " + s.job_id + " (" + s.token + ") missing in" + missing);
    }
  }

  std::map<std::string, std::set<std::string>> ids_by_token;
  for (const auto& [id, recs] : all) {
    const auto& first = *recs.front().second;
    auto token = token_of(first.command);
    ids_by_token[token].insert(id);
    auto sub = by_token.find(token);
    if (sub != by_token.end() && sub->second->result == outcome::refused) {
      ++v.phantoms;
      note(v, per_kind, "phantom", "job " + id + " (" + token + ") exists, but its submit was refused with " +
                                       sub->second->last_code);
    }

    bool any_terminal = false, all_terminal = true;
    for (const auto& [w, r] : recs) {
      any_terminal = any_terminal || r->terminal();
      all_terminal = all_terminal && r->terminal();
    }
    if (!any_terminal) {
      ++v.stuck;
      note(v, per_kind, "stuck", "job " + id + " (" + token + ") " + recs.front().first->name + ": " +
                                     first.common_fields());
      continue;
    }
    // A terminal job must look the same in every view, REST output included.
    std::string diff;
    if (recs.size() != readable.size()) diff += " present in " + std::to_string(recs.size()) + " of " +
                                                std::to_string(readable.size()) + " views;";
    const job_record* first_rest = nullptr;
    for (const auto& [w, r] : recs) {
      if (r->common_fields() != first.common_fields())
        diff += " " + w->name + ": " + r->common_fields() + " vs " + recs.front().first->name + ";";
      if (!r->output) continue;
      if (!first_rest) first_rest = r;
      else if (*r->output != *first_rest->output) diff += " " + w->name + ": output differs;";
    }
    if (!all_terminal || !diff.empty()) {
      ++v.divergent;
      note(v, per_kind, "divergent", "job " + id + " (" + token + "):" + diff + " first: " + first.common_fields());
      continue;
    }
    // Each assignment may start the job once; more starts mean it ran again
    // (e.g. after a restart), which the spec rules out for side effects' sake.
    if (auto r = runs.find(token); r != runs.end() && r->second > static_cast<long>(first.attempts)) {
      ++v.reruns;
      note(v, per_kind, "rerun", "job " + id + " (" + token + ") started " + std::to_string(r->second) +
                                     " times with " + std::to_string(first.attempts) + " attempt(s): " +
                                     first.common_fields());
    }
    if (first.status == "completed") {
      ++v.completed;
      ++v.output_checked;
      if (first_rest && first_rest->output->find(token) == std::string::npos) {
        ++v.output_bad;
        note(v, per_kind, "output", "job " + id + " (" + token + ") completed with output \"" +
                                        first_rest->output->substr(0, 80) + "\"");
      }
    }
  }
  for (const auto& [token, ids] : ids_by_token)
    if (ids.size() > 1) {
      ++v.duplicates;
      note(v, per_kind, "duplicate", token + " in " + std::to_string(ids.size()) + " jobs");
    }

  // A cancel answered OK committed: the job must have ended CANCELLED everywhere.
  for (const auto& c : cancels) {
    if (c.result != outcome::ok) continue;
    ++v.cancels_ok;
    auto it = all.find(c.job_id);
    std::string bad;
    if (it == all.end()) bad = " missing everywhere";
    else
      for (const auto& [w, r] : it->second)
        if (r->status != "cancelled") bad += " " + w->name + ": " + r->status;
    if (!bad.empty()) {
      ++v.cancel_violations;
      note(v, per_kind, "cancel", "job " + c.job_id + " cancelled OK, but" + bad);
    }
  }
  return v;
}

bool same_reads(const std::vector<view>& a, const std::vector<view>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].ok != b[i].ok || a[i].jobs.size() != b[i].jobs.size()) return false;
    for (const auto& [id, r] : a[i].jobs) {
      auto it = b[i].jobs.find(id);
      if (it == b[i].jobs.end() || it->second.common_fields() != r.common_fields() || it->second.output != r.output)
        return false;
    }
  }
  return true;
}

std::string verdict::line(std::uint64_t seed, std::size_t nodes) const {
  std::ostringstream s;
  s << "chaos verdict: " << (pass() ? "PASS" : "FAIL") << " seed=" << seed << " nodes=" << nodes
    << " operations=" << operations << " faults=" << faults << " acknowledged=" << acknowledged
    << " indeterminate=" << indeterminate << " refused=" << refused << " jobs=" << jobs << " lost=" << lost
    << " duplicates=" << duplicates << " divergent=" << divergent << " stuck=" << stuck
    << " cancels_ok=" << cancels_ok << " cancel_violations=" << cancel_violations << " completed=" << completed
    << " output_checked=" << output_checked << " output_bad=" << output_bad << " phantoms=" << phantoms
    << " reruns=" << reruns << " unreadable_views=" << unreadable_views << " node_crashes=" << node_crashes;
  return s.str();
}

}  // namespace troupe::chaos
