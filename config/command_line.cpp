#include "config/command_line.hpp"

#include "config/closest_match.hpp"
#include "config/config_file.hpp"
#include "config/host_port.hpp"
#include "config/secret.hpp"
#include "config/validate.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#ifndef TROUPE_VERSION
#error "TROUPE_VERSION must be defined by the build (config/CMakeLists.txt)"
#endif

namespace troupe::config {
namespace {

constexpr const char* flags_source = "<flags>";

struct flag_spec {
  const char* name;
  const char* value_name;  // nullptr: the flag takes no value
  const char* help;
};

const std::vector<flag_spec>& flag_specs() {
  static const std::vector<flag_spec> specs{
      {"config", "FILE", "TOML config file; the flags below override its values"},
      {"node-id", "N", "this node's id (> 0); required without --config"},
      {"port", "P", "gRPC listen port; binds 0.0.0.0:P (default 50051)"},
      {"dashboard-port", "P", "HTTP (REST API + dashboard) listen port; binds 0.0.0.0:P (default 8081)"},
      {"peers", "LIST", "the OTHER members as \"id:host:port,...\", e.g. \"2:127.0.0.1:50052,3:127.0.0.1:50053\"; "
                        "replaces the file's [[members]]; this node is added from --advertise-addr or 127.0.0.1:<port>"},
      {"image", "IMG", "default container image for jobs (executor.default_image)"},
      {"data-dir", "DIR", "Raft log, snapshots and job outputs (default without --config: data/node-<id>)"},
      {"advertise-addr", "HOST:PORT", "the address clients and peers should dial for this node"},
      {"executor", "BACKEND", "job executor: docker, process, or auto (docker when its socket answers)"},
      {"log-level", "LEVEL", "trace, debug, info, warn or error"},
      {"tls-cert", "FILE", "PEM certificate for every listener and for peers ([tls].cert_file; CN node-<id>)"},
      {"tls-key", "FILE", "PEM private key of --tls-cert ([tls].key_file)"},
      {"tls-ca", "FILE", "PEM cluster CA: peers must present a certificate it signed ([tls].ca_file)"},
      {"auth-token", "LIST", "client tokens as \"name:role:token,...\" (role read, submit or admin; token \"@FILE\" "
                             "reads it from FILE); replaces the file's [[auth.tokens]]"},
      {"join", nullptr, "this node is being added to a running cluster ([node].join): start with no configuration "
                        "and wait for the leader's (after `troupe member add`); ignored once one is replicated"},
      {"check-config", nullptr, "validate the configuration, print a one-line summary and exit 0"},
      {"restore", "FILE", "seed the empty data dir from a backup (troupe snapshot save FILE) as a new cluster of "
                          "this configuration's members, then exit; start the node normally afterwards"},
      {"help", nullptr, "print this help and exit"},
      {"version", nullptr, "print the version and exit"},
  };
  return specs;
}

const flag_spec* find_flag(const std::string& name) {
  for (const flag_spec& f : flag_specs())
    if (name == f.name) return &f;
  return nullptr;
}

[[noreturn]] void fail(const std::string& flag, const std::string& problem) {
  throw config_error(std::string(flags_source) + ": " + flag + ": " + problem);
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// Strict decimal: no sign, no spaces, no trailing junk.
std::optional<std::uint64_t> parse_decimal(const std::string& s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char ch : s) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(ch - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

std::uint64_t parse_id(const std::string& flag, const std::string& value) {
  const auto id = parse_decimal(value);
  if (!id) fail(flag, "expected a positive integer, got " + quoted(value));
  if (*id == 0) fail(flag, "must be > 0 (0 means \"no node\" in Raft)");
  return *id;
}

std::uint16_t parse_port(const std::string& flag, const std::string& value) {
  const auto port = parse_decimal(value);
  if (!port || *port == 0 || *port > 65535) fail(flag, "expected a port 1..65535, got " + quoted(value));
  return static_cast<std::uint16_t>(*port);
}

std::pair<std::string, std::uint16_t> parse_endpoint(const std::string& flag, const std::string& value) {
  try {
    return split_host_port(value);
  } catch (const config_error& e) {
    fail(flag, e.what());
  }
}

std::string one_of(const std::string& flag, const std::string& value, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return value;
  std::string list;
  for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail(flag, quoted(value) + " is not one of " + list);
}

// "2:host:port,3:host:port" -> members, in the order given.
std::vector<member> parse_peers(const std::string& value, std::uint64_t self_id) {
  std::vector<member> peers;
  std::istringstream in(value);
  std::string entry;
  while (std::getline(in, entry, ',')) {
    if (entry.empty()) fail("--peers", "empty entry in " + quoted(value) + " (expected id:host:port,...)");
    const auto colon = entry.find(':');
    if (colon == std::string::npos)
      fail("--peers", "entry " + quoted(entry) + " is not id:host:port");
    const std::string id_text = entry.substr(0, colon);
    const auto id = parse_decimal(id_text);
    if (!id || *id == 0)
      fail("--peers", "entry " + quoted(entry) + ": id " + quoted(id_text) + " is not a positive integer");
    if (*id == self_id)
      fail("--peers", "entry " + quoted(entry) + " has this node's own id " + std::to_string(self_id) +
                          "; list only the OTHER members");
    for (const member& p : peers)
      if (p.id == *id) fail("--peers", "member id " + std::to_string(*id) + " appears twice");
    const std::string address = entry.substr(colon + 1);
    try {
      split_host_port(address);
    } catch (const config_error& e) {
      fail("--peers", "entry " + quoted(entry) + ": " + e.what());
    }
    peers.push_back({*id, address, "", ""});
  }
  if (peers.empty()) fail("--peers", "no members in " + quoted(value));
  return peers;
}

// --auth-token "name:role:token,...": the token is everything after the
// second colon, or "@FILE" to read it from a file.
std::vector<auth_token> parse_tokens(const std::string& value) {
  std::vector<auth_token> out;
  std::istringstream list(value);
  std::string entry;
  while (std::getline(list, entry, ',')) {
    const auto a = entry.find(':');
    const auto b = a == std::string::npos ? a : entry.find(':', a + 1);
    if (b == std::string::npos || a == 0 || b + 1 >= entry.size())
      fail("--auth-token", "entry " + quoted(entry.substr(0, entry.find(':'))) + "... is not name:role:token");
    auth_token t;
    t.name = entry.substr(0, a);
    const auto r = parse_role(entry.substr(a + 1, b - a - 1));
    if (!r) fail("--auth-token", "token " + quoted(t.name) + ": role must be read, submit or admin");
    t.grants = *r;
    std::string token = entry.substr(b + 1);
    if (token.front() == '@') {
      try {
        token = read_token_file(token.substr(1));
      } catch (const config_error& e) {
        fail("--auth-token", "token " + quoted(t.name) + ": " + e.what());
      }
    }
    t.token_sha256 = sha256_hex(token);
    out.push_back(std::move(t));
  }
  if (out.empty()) fail("--auth-token", "no tokens in the list");
  return out;
}

using flag_values = std::map<std::string, std::string>;

flag_values scan(int argc, const char* const* argv) {
  flag_values given;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i] ? argv[i] : "";
    std::string name;
    std::optional<std::string> value;
    if (arg == "-h") {
      name = "help";
    } else if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      const auto eq = arg.find('=');
      name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq != std::string::npos) value = arg.substr(eq + 1);
    } else {
      fail(quoted(arg), "unexpected argument (flags start with --; see --help)");
    }

    const flag_spec* spec = find_flag(name);
    if (!spec) {
      std::vector<std::string> names;
      for (const flag_spec& f : flag_specs()) names.push_back(f.name);
      const std::string near = closest_match(name, names);
      fail("--" + name, "unknown flag" + (near.empty() ? std::string(" (see --help)") : " (did you mean --" + near + "?)"));
    }
    const std::string flag = "--" + name;
    if (spec->value_name) {
      if (!value) {
        if (i + 1 >= argc || std::string(argv[i + 1] ? argv[i + 1] : "").rfind("--", 0) == 0)
          fail(flag, std::string("missing value (expected ") + flag + " " + spec->value_name + ")");
        value = argv[++i];
      }
      if (value->empty()) fail(flag, std::string("empty value (expected ") + spec->value_name + ")");
    } else if (value) {
      fail(flag, "takes no value, got " + quoted(*value));
    }
    if (given.count(name)) fail(flag, "given more than once");
    given[name] = value.value_or("");
  }
  return given;
}

const std::string* get(const flag_values& given, const std::string& name) {
  const auto it = given.find(name);
  return it == given.end() ? nullptr : &it->second;
}

// This node's own member entry when --peers rebuilds the member list: the
// advertised address if given, else the file's entry, else loopback.
member self_member(const node_config& c, const std::string* advertise) {
  member self;
  if (const member* from_file = c.find_member(c.id)) self = *from_file;
  self.id = c.id;
  if (advertise) {
    self.address = *advertise;
  } else if (self.address.empty()) {
    self.address = join_host_port("127.0.0.1", parse_endpoint("--port", c.grpc_listen).second);
  }
  if (self.http_address.empty())
    self.http_address = join_host_port(parse_endpoint("--advertise-addr", self.address).first,
                                       parse_endpoint("--dashboard-port", c.http_listen).second);
  return self;
}

node_config build_config(const flag_values& given) {
  node_config c;
  if (const std::string* path = get(given, "config")) {
    c = parse_file(*path);
  } else {
    c.source = flags_source;
    if (!get(given, "node-id")) fail("--node-id", "missing (required when no --config file is given)");
  }

  if (const std::string* v = get(given, "node-id")) c.id = parse_id("--node-id", *v);
  if (const std::string* v = get(given, "data-dir")) c.data_dir = *v;
  if (c.data_dir.empty() && c.source == flags_source) c.data_dir = "data/node-" + std::to_string(c.id);
  if (const std::string* v = get(given, "port")) c.grpc_listen = "0.0.0.0:" + std::to_string(parse_port("--port", *v));
  if (const std::string* v = get(given, "dashboard-port"))
    c.http_listen = "0.0.0.0:" + std::to_string(parse_port("--dashboard-port", *v));
  if (const std::string* v = get(given, "image")) c.executor.default_image = *v;
  if (get(given, "join")) c.join = true;
  if (const std::string* v = get(given, "executor")) c.executor.backend = one_of("--executor", *v, {"docker", "process", "auto"});
  if (const std::string* v = get(given, "log-level"))
    c.log.level = one_of("--log-level", *v, {"trace", "debug", "info", "warn", "error"});
  if (const std::string* v = get(given, "tls-cert")) c.tls.cert_file = *v;
  if (const std::string* v = get(given, "tls-key")) c.tls.key_file = *v;
  if (const std::string* v = get(given, "tls-ca")) c.tls.ca_file = *v;
  if (const std::string* v = get(given, "auth-token")) c.auth.tokens = parse_tokens(*v);
  const std::string* advertise = get(given, "advertise-addr");
  if (advertise) {
    const auto host_port = parse_endpoint("--advertise-addr", *advertise);
    if (is_wildcard_host(host_port.first))
      fail("--advertise-addr", quoted(*advertise) + " is a listen-on-all address; give one peers and clients can dial");
    c.advertise_addr = *advertise;
  }

  const std::string* peers = get(given, "peers");
  if (peers || c.source == flags_source) {
    std::vector<member> members{self_member(c, advertise)};
    if (peers)
      for (member& p : parse_peers(*peers, c.id)) members.push_back(std::move(p));
    c.members = std::move(members);
  }
  return c;
}

}  // namespace

cli_result parse_command_line(int argc, const char* const* argv) {
  const flag_values given = scan(argc, argv);
  cli_result result;
  if (get(given, "help")) {
    result.action = cli_action::help;
    result.help_text = usage();
    return result;
  }
  if (get(given, "version")) {
    result.action = cli_action::version;
    result.help_text = version_string();
    return result;
  }
  result.config = build_config(given);
  validate(result.config);
  finalize(result.config);
  result.action = get(given, "check-config") ? cli_action::check_config : cli_action::run;
  if (const std::string* file = get(given, "restore")) {
    if (result.action == cli_action::check_config) fail("--restore", "cannot be combined with --check-config");
    if (file->empty()) fail("--restore", "needs a backup file");
    result.action = cli_action::restore;
    result.restore_file = *file;
  }
  return result;
}

std::string usage() {
  std::ostringstream out;
  out << "Usage: troupe-node [--config FILE] [flags]\n"
         "\n"
         "Starts one node of a troupe cluster. Configure it with a TOML file (see\n"
         "config/examples/full.toml), with flags alone, or with a file plus flags that\n"
         "override it. Flags take their value as \"--flag value\" or \"--flag=value\".\n"
         "\n"
         "Flags:\n";
  constexpr std::size_t indent = 26;  // column where descriptions start
  constexpr std::size_t width = 80;
  for (const flag_spec& f : flag_specs()) {
    std::string left = std::string("  --") + f.name;
    if (f.value_name) left += std::string(" ") + f.value_name;
    out << left;
    std::size_t column = left.size();
    if (column >= indent) {
      out << "\n";
      column = 0;
    }
    // Word-wrap the description into the right-hand column.
    std::istringstream words(f.help);
    std::string word;
    bool line_start = true;
    while (words >> word) {
      if (!line_start && column + 1 + word.size() > width) {
        out << "\n";
        column = 0;
        line_start = true;
      }
      if (line_start) {
        out << std::string(indent - column, ' ');
        column = indent;
      } else {
        out << ' ';
        ++column;
      }
      out << word;
      column += word.size();
      line_start = false;
    }
    out << "\n";
  }
  out << "\n"
         "Examples:\n"
         "  troupe-node --config deploy/local/node1.toml\n"
         "  troupe-node --node-id 1 --port 50051 --dashboard-port 8081 \\\n"
         "              --peers \"2:127.0.0.1:50052,3:127.0.0.1:50053\"\n";
  return out.str();
}

std::string version_string() { return std::string("troupe ") + TROUPE_VERSION; }

std::string summary(const node_config& c) {
  std::string ids;
  for (const member& m : c.members) ids += (ids.empty() ? "" : ",") + std::to_string(m.id);
  std::ostringstream out;
  out << "config OK (" << c.source << "): node " << c.id << " of " << c.members.size() << " members [" << ids
      << "], grpc " << c.grpc_listen << ", http " << c.http_listen << ", advertise " << c.advertise_addr
      << ", data_dir " << c.data_dir << ", executor " << c.executor.backend << " (image "
      << c.executor.default_image << "), log " << c.log.level;
  if (c.join) out << ", joining a running cluster (members seed nothing; the leader's configuration wins)";
  return out.str();
}

}  // namespace troupe::config
