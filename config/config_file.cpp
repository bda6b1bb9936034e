#include "config/config_file.hpp"

#include "config/closest_match.hpp"
#include "config/secret.hpp"
#include "config/validate.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

namespace troupe::config {
namespace {

std::string type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// Reads typed values out of TOML nodes, turning every mismatch into a
// config_error that names the file and the key.
class value_reader {
 public:
  explicit value_reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw config_error(source_ + ": " + key + ": " + problem);
  }

  std::string string(const toml::node& n, const std::string& key,
                     const std::string& expected = "a string") const {
    if (!n.is_string()) fail(key, "expected " + expected + ", got " + type_name(n.type()));
    return n.as_string()->get();
  }

  bool boolean(const toml::node& n, const std::string& key) const {
    if (!n.is_boolean()) fail(key, "expected a boolean (true or false), got " + type_name(n.type()));
    return n.as_boolean()->get();
  }

  double number(const toml::node& n, const std::string& key) const {
    if (n.is_integer()) return static_cast<double>(n.as_integer()->get());
    if (!n.is_floating_point()) fail(key, "expected a number, got " + type_name(n.type()));
    return n.as_floating_point()->get();
  }

  std::int64_t integer(const toml::node& n, const std::string& key) const {
    if (!n.is_integer()) fail(key, "expected an integer, got " + type_name(n.type()));
    return n.as_integer()->get();
  }

  // TOML integers are signed 64-bit; T is the unsigned field type.
  template <class T>
  T unsigned_integer(const toml::node& n, const std::string& key) const {
    const std::int64_t v = integer(n, key);
    const std::uint64_t max = std::numeric_limits<T>::max();
    if (v < 0 || static_cast<std::uint64_t>(v) > max)
      fail(key, "expected an integer in 0.." + std::to_string(max) + ", got " + std::to_string(v));
    return static_cast<T>(v);
  }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

using field_setter = std::function<void(const toml::node&, const std::string& key)>;

struct field {
  std::string name;
  field_setter set;
};

struct section {
  std::string name;   // as in the file: "raft", "executor.sandbox"
  std::vector<field> fields;
  std::string label() const { return "[" + name + "]"; }
};

std::vector<std::string> names_of(const std::vector<field>& fields) {
  std::vector<std::string> out;
  for (const field& f : fields) out.push_back(f.name);
  return out;
}

// Builds the schema: which keys each section holds and where their values go.
// The setters write into `c`; `saw_id` records that [node].id was present.
class schema {
 public:
  schema(node_config& c, const value_reader& r, bool& saw_id) : c_(c), r_(r) {
    sections_.push_back({"node",
                         {{"id", [&c, &r, &saw_id](auto& n, auto& k) { c.id = r.unsigned_integer<std::uint64_t>(n, k); saw_id = true; }},
                          {"data_dir", [&c, &r](auto& n, auto& k) { c.data_dir = r.string(n, k, "a string (a directory path)"); }},
                          {"advertise_addr", [&c, this](auto& n, auto& k) { c.advertise_addr = host_port(n, k); }},
                          {"join", boolean(c.join)}}});
    sections_.push_back({"listen",
                         {{"grpc", [&c, this](auto& n, auto& k) { c.grpc_listen = host_port(n, k); }},
                          {"http", [&c, this](auto& n, auto& k) { c.http_listen = host_port(n, k); }},
                          {"wire", [&c, this](auto& n, auto& k) { c.wire_listen = host_port(n, k); }}}});
    raft_options& ro = c.raft;
    sections_.push_back({"raft",
                         {{"tick_ms", u32(ro.tick_ms)},
                          {"election_ticks", u32(ro.election_ticks)},
                          {"heartbeat_ticks", u32(ro.heartbeat_ticks)},
                          {"commit_deadline_ms", u32(ro.commit_deadline_ms)},
                          {"max_pending_proposals", u32(ro.max_pending_proposals)},
                          {"status_hold_ms", u32(ro.status_hold_ms)},
                          {"status_hold_busy_ms", u32(ro.status_hold_busy_ms)},
                          {"snapshot_every", u64(ro.snapshot_every)},
                          {"max_entries_per_append", u32(ro.max_entries_per_append)},
                          {"max_append_bytes", u64(ro.max_append_bytes)},
                          {"snapshot_chunk_bytes", u32(ro.snapshot_chunk_bytes)},
                          {"pre_vote", boolean(ro.pre_vote)},
                          {"check_quorum", boolean(ro.check_quorum)}}});
    worker_options& wo = c.worker;
    sections_.push_back({"worker",
                         {{"heartbeat_ms", u32(wo.heartbeat_ms)},
                          {"dead_after_ms", u32(wo.dead_after_ms)},
                          {"capacity", u32(wo.capacity)},
                          {"prefetch", u32(wo.prefetch)},
                          {"max_attempts", u32(wo.max_attempts)},
                          {"running_report_hold_ms", u32(wo.running_report_hold_ms)}}});
    executor_options& eo = c.executor;
    sections_.push_back({"executor",
                         {{"backend", string(eo.backend)},
                          {"docker_socket", string(eo.docker_socket)},
                          {"default_image", string(eo.default_image)},
                          {"timeout_s", u32(eo.timeout_s)},
                          {"max_timeout_s", u32(eo.max_timeout_s)},
                          {"output_cap_bytes", u64(eo.output_cap_bytes)},
                          {"output_inline_bytes", u64(eo.output_inline_bytes)},
                          {"sandbox", [this](auto& n, auto& k) { read_sub_table(n, k, "executor.sandbox"); }},
                          {"process", [this](auto& n, auto& k) { read_sub_table(n, k, "executor.process"); }}}});
    process_options& po = c.executor.process;
    sections_.push_back({"executor.process",
                         {{"user", string(po.user)},
                          {"work_dir", path(po.work_dir)},
                          {"max_processes", u64(po.max_processes)},
                          {"max_file_bytes", u64(po.max_file_bytes)},
                          {"cpu_s", u64(po.cpu_s)},
                          {"nice", u32(po.nice)},
                          {"cpus", string(po.cpus)}}});
    sandbox_options& so = c.executor.sandbox;
    sections_.push_back({"executor.sandbox",
                         {{"network", string(so.network)},
                          {"memory_bytes", i64(so.memory_bytes)},
                          {"cpus", [&cpus = so.cpus, &r](auto& n, auto& k) { cpus = r.number(n, k); }},
                          {"pids_limit", i64(so.pids_limit)},
                          {"drop_all_capabilities", boolean(so.drop_all_capabilities)},
                          {"no_new_privileges", boolean(so.no_new_privileges)},
                          {"read_only_rootfs", boolean(so.read_only_rootfs)}}});
    jobs_options& jo = c.jobs;
    sections_.push_back({"jobs",
                         {{"retention_s", u64(jo.retention_s)},
                          {"max_active", u64(jo.max_active)},
                          {"max_command_bytes", u32(jo.max_command_bytes)}}});
    sections_.push_back({"log", {{"level", string(c.log.level)}}});
    sections_.push_back({"tls",
                         {{"cert_file", path(c.tls.cert_file)},
                          {"key_file", path(c.tls.key_file)},
                          {"ca_file", path(c.tls.ca_file)}}});
    sections_.push_back({"auth", {{"tokens", [this](auto& n, auto&) { read_tokens(n); }}}});
    limits_options& lo = c.limits;
    sections_.push_back({"limits",
                         {{"client_message_bytes", u64(lo.client_message_bytes)},
                          {"stream_subscribers", u32(lo.stream_subscribers)},
                          {"http_connections", u32(lo.http_connections)},
                          {"http_header_bytes", u32(lo.http_header_bytes)},
                          {"http_headers", u32(lo.http_headers)},
                          {"http_request_timeout_ms", u32(lo.http_request_timeout_ms)},
                          {"http_idle_timeout_ms", u32(lo.http_idle_timeout_ms)}}});
    sections_.push_back({"http", {{"allowed_hosts", [&c, this](auto& n, auto& k) { c.http.allowed_hosts = strings(n, k); }}}});
  }

  void read_root(const toml::table& root) {
    for (auto&& [key, value] : root) {
      const std::string name(key.str());
      if (name == "members") {
        read_members(value);
      } else if (const section* s = find(name); s && !is_sub_table(name)) {
        if (!value.is_table()) r_.fail(s->label(), "expected a table, got " + type_name(value.type()));
        read_section(*value.as_table(), *s);
      } else if (!value.is_table()) {
        r_.fail(name, "unknown top-level key (every key belongs in a section" + owner_hint(name) + ")");
      } else {
        std::vector<std::string> known{"members"};
        for (const section& sec : sections_)
          if (!is_sub_table(sec.name)) known.push_back(sec.name);
        const std::string near = closest_match(name, known);
        r_.fail("[" + name + "]", "unknown section" +
                                      (near.empty() ? std::string() : " (did you mean [" + near + "]?)"));
      }
    }
  }

 private:
  static bool is_sub_table(const std::string& name) { return name.find('.') != std::string::npos; }

  // A path in the file is relative to the file's directory, so a config and
  // its certificates can move together.
  field_setter path(std::string& out) const {
    return [&out, this](const toml::node& n, const std::string& k) {
      out = resolve(r_.string(n, k, "a string (a file path)"));
    };
  }
  std::string resolve(const std::string& p) const {
    if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
    const auto dir = std::filesystem::path(r_.source()).parent_path();
    return dir.empty() ? p : (dir / p).lexically_normal().string();
  }

  std::vector<std::string> strings(const toml::node& n, const std::string& key) const {
    const toml::array* a = n.as_array();
    if (!a) r_.fail(key, "expected an array of strings, got " + type_name(n.type()));
    std::vector<std::string> out;
    std::size_t i = 0;
    for (const toml::node& v : *a) out.push_back(r_.string(v, key + "[" + std::to_string(i++) + "]"));
    return out;
  }

  // [[auth.tokens]]: name, role and exactly one of token, token_sha256, token_file.
  void read_tokens(const toml::node& n) {
    const toml::array* entries = n.as_array();
    if (!entries || !entries->is_array_of_tables())
      r_.fail("[[auth.tokens]]", "expected an array of tables (one [[auth.tokens]] block per token), got " +
                                     type_name(n.type()));
    std::size_t index = 0;
    for (const toml::node& entry : *entries) {
      ++index;
      const std::string label = "[[auth.tokens]][" + std::to_string(index) + "]";
      auth_token t;
      std::string role_name, token, digest, file;
      int forms = 0;
      const std::vector<field> fields{
          {"name", [&](auto& v, auto& k) { t.name = r_.string(v, k); }},
          {"role", [&](auto& v, auto& k) { role_name = r_.string(v, k, "a string (\"read\", \"submit\" or \"admin\")"); }},
          {"token", [&](auto& v, auto& k) { token = r_.string(v, k); ++forms; }},
          {"token_sha256", [&](auto& v, auto& k) { digest = r_.string(v, k, "a string (64 hex digits)"); ++forms; }},
          {"token_file", [&](auto& v, auto& k) { file = resolve(r_.string(v, k, "a string (a file path)")); ++forms; }}};
      read_fields(*entry.as_table(), label, fields);
      if (t.name.empty()) r_.fail(label + ".name", "missing (a name for logs and metrics, e.g. \"ci\")");
      if (role_name.empty()) r_.fail(label + ".role", "missing (\"read\", \"submit\" or \"admin\")");
      const auto r = parse_role(role_name);
      if (!r) r_.fail(label + ".role", "\"" + role_name + "\" is not one of \"read\", \"submit\", \"admin\"");
      t.grants = *r;
      if (forms != 1) r_.fail(label, "give exactly one of token, token_sha256, token_file");
      if (!file.empty()) {
        try {
          token = read_token_file(file);
        } catch (const config_error& e) {
          r_.fail(label + ".token_file", e.what());
        }
      }
      if (!digest.empty()) {
        if (!is_sha256_hex(digest)) r_.fail(label + ".token_sha256", "expected 64 hex digits (SHA-256 of the token)");
        t.token_sha256 = lowercase_hex(digest);
      } else {
        if (token.empty()) r_.fail(label + ".token", "empty");
        t.token_sha256 = sha256_hex(token);
      }
      c_.auth.tokens.push_back(std::move(t));
    }
  }

  field_setter u32(std::uint32_t& out) const {
    return [&out, this](const toml::node& n, const std::string& k) { out = r_.unsigned_integer<std::uint32_t>(n, k); };
  }
  field_setter u64(std::uint64_t& out) const {
    return [&out, this](const toml::node& n, const std::string& k) { out = r_.unsigned_integer<std::uint64_t>(n, k); };
  }
  field_setter i64(std::int64_t& out) const {
    return [&out, this](const toml::node& n, const std::string& k) { out = r_.integer(n, k); };
  }
  field_setter boolean(bool& out) const {
    return [&out, this](const toml::node& n, const std::string& k) { out = r_.boolean(n, k); };
  }
  field_setter string(std::string& out) const {
    return [&out, this](const toml::node& n, const std::string& k) { out = r_.string(n, k); };
  }
  std::string host_port(const toml::node& n, const std::string& key) const {
    return r_.string(n, key, "a string \"host:port\"");
  }

  const section* find(const std::string& name) const {
    for (const section& s : sections_)
      if (s.name == name) return &s;
    return nullptr;
  }

  // " (did you mean [raft].tick_ms?)" when another section owns that exact key.
  std::string owner_hint(const std::string& key) const {
    for (const section& s : sections_)
      for (const field& f : s.fields)
        if (f.name == key) return "; did you mean " + s.label() + "." + key + "?";
    return "";
  }

  void read_sub_table(const toml::node& n, const std::string& key, const std::string& name) {
    if (!n.is_table()) r_.fail(key, "expected a table, got " + type_name(n.type()));
    read_section(*n.as_table(), *find(name));
  }

  void read_fields(const toml::table& t, const std::string& label, const std::vector<field>& fields) {
    for (auto&& [key, value] : t) {
      const std::string name(key.str());
      const std::string full = label + "." + name;
      const auto f = std::find_if(fields.begin(), fields.end(), [&](const field& x) { return x.name == name; });
      if (f != fields.end()) {
        f->set(value, full);
        continue;
      }
      const std::string near = closest_match(name, names_of(fields));
      if (!near.empty()) r_.fail(full, "unknown key (did you mean \"" + near + "\"?)");
      std::string elsewhere;
      for (const section& s : sections_)
        for (const field& other : s.fields)
          if (other.name == name && elsewhere.empty()) elsewhere = " (it belongs in " + s.label() + ")";
      r_.fail(full, "unknown key" + elsewhere);
    }
  }

  void read_section(const toml::table& t, const section& s) { read_fields(t, s.label(), s.fields); }

  void read_members(const toml::node& n) {
    const toml::array* entries = n.as_array();
    if (!entries || !entries->is_array_of_tables())
      r_.fail("[[members]]", "expected an array of tables (one [[members]] block per member), got " +
                                 type_name(n.type()));
    std::size_t index = 0;
    for (const toml::node& entry : *entries) {
      ++index;
      member m;
      bool saw_member_id = false;
      const std::string label = "[[members]][" + std::to_string(index) + "]";
      const std::vector<field> fields{
          {"id", [&](auto& v, auto& k) { m.id = r_.unsigned_integer<std::uint64_t>(v, k); saw_member_id = true; }},
          {"address", [&](auto& v, auto& k) { m.address = host_port(v, k); }},
          {"http", [&](auto& v, auto& k) { m.http_address = host_port(v, k); }},
          {"wire", [&](auto& v, auto& k) { m.wire_address = host_port(v, k); }}};
      read_fields(*entry.as_table(), label, fields);
      if (!saw_member_id) r_.fail(label + ".id", "missing (every member needs its unique id)");
      if (m.address.empty()) r_.fail(label + ".address", "missing (the host:port peers dial)");
      c_.members.push_back(std::move(m));
    }
  }

  node_config& c_;
  const value_reader& r_;
  std::vector<section> sections_;
};

std::string read_whole_file(const std::string& path) {
  // An ifstream happily "reads" a directory as an empty file.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw config_error(path + ": cannot read config file: " + std::strerror(EISDIR));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error(path + ": cannot read config file: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw config_error(path + ": cannot read config file: " + std::strerror(errno));
  return text.str();
}

// Errors are one line each; toml++ descriptions occasionally are not.
std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

}  // namespace

node_config parse_file(const std::string& path) { return parse_text(read_whole_file(path), path); }

node_config parse_text(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw config_error(source + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                       ": invalid TOML: " + one_line(std::string(e.description())));
  }

  node_config c;
  c.source = source;
  bool saw_id = false;
  const value_reader reader(source);
  schema(c, reader, saw_id).read_root(root);
  if (!saw_id) reader.fail("[node].id", "missing (every node needs a unique id > 0)");
  return c;
}

void finalize(node_config& c) {
  std::sort(c.members.begin(), c.members.end(),
            [](const member& a, const member& b) { return a.id < b.id; });
  if (c.advertise_addr.empty()) c.advertise_addr = c.self().address;
}

node_config load_file(const std::string& path) {
  node_config c = parse_file(path);
  validate(c);
  finalize(c);
  return c;
}

}  // namespace troupe::config
