#include "runtime/raft/membership.hpp"

#include <algorithm>

namespace troupe::raft {

namespace {

constexpr std::string_view magic = "TRMB";
constexpr std::uint8_t version_plain = 1;
constexpr std::uint8_t version_wire = 2;  // + each member's wire address
// A configuration names a handful of servers; this bound only stops a corrupt
// count from reserving gigabytes.
constexpr std::uint32_t max_members = 4096;

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

struct reader {
  std::string_view in;
  std::size_t pos = 0;
  bool take(std::size_t n, std::string_view& out) {
    if (in.size() - pos < n) return false;
    out = in.substr(pos, n);
    pos += n;
    return true;
  }
  bool u8(std::uint8_t& v) {
    std::string_view b;
    if (!take(1, b)) return false;
    v = static_cast<std::uint8_t>(b[0]);
    return true;
  }
  bool u32(std::uint32_t& v) {
    std::string_view b;
    if (!take(4, b)) return false;
    v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(b[static_cast<std::size_t>(i)]);
    return true;
  }
  bool u64(std::uint64_t& v) {
    std::string_view b;
    if (!take(8, b)) return false;
    v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(b[static_cast<std::size_t>(i)]);
    return true;
  }
  bool str(std::string& s) {
    std::uint32_t n = 0;
    std::string_view b;
    if (!u32(n) || !take(n, b)) return false;
    s.assign(b);
    return true;
  }
};

}  // namespace

membership membership::of_voters(const std::vector<node_id>& ids) {
  membership m;
  for (node_id id : ids) m.put(member{id, true, {}, {}, {}});
  return m;
}

const member* membership::find(node_id id) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), id, [](const member& m, node_id v) { return m.id < v; });
  return it != members_.end() && it->id == id ? &*it : nullptr;
}

bool membership::is_voter(node_id id) const {
  const member* m = find(id);
  return m && m->voter;
}

std::vector<node_id> membership::voters() const {
  std::vector<node_id> out;
  for (const auto& m : members_)
    if (m.voter) out.push_back(m.id);
  return out;
}

std::vector<node_id> membership::learners() const {
  std::vector<node_id> out;
  for (const auto& m : members_)
    if (!m.voter) out.push_back(m.id);
  return out;
}

std::size_t membership::voter_count() const {
  return static_cast<std::size_t>(std::count_if(members_.begin(), members_.end(), [](const member& m) { return m.voter; }));
}

void membership::put(member m) {
  auto it = std::lower_bound(members_.begin(), members_.end(), m.id, [](const member& x, node_id v) { return x.id < v; });
  if (it != members_.end() && it->id == m.id) {
    *it = std::move(m);
  } else {
    members_.insert(it, std::move(m));
  }
}

void membership::remove(node_id id) {
  members_.erase(std::remove_if(members_.begin(), members_.end(), [&](const member& m) { return m.id == id; }),
                 members_.end());
}

std::string single_change_error(const membership& current, const membership& next) {
  if (next.voter_count() == 0) return "a configuration needs at least one voter";
  std::size_t changed = 0;
  for (const auto& m : current.members())
    if (m.voter && !next.is_voter(m.id)) ++changed;
  for (const auto& m : next.members())
    if (m.voter && !current.is_voter(m.id)) ++changed;
  if (changed > 1) return "only one voter may be added or removed at a time (" + std::to_string(changed) + " changed)";
  return {};
}

std::string encode(const membership& m) {
  const bool wire = std::any_of(m.members().begin(), m.members().end(),
                                [](const member& x) { return !x.wire_address.empty(); });
  std::string out(magic);
  out.push_back(static_cast<char>(wire ? version_wire : version_plain));
  put_u32(out, static_cast<std::uint32_t>(m.members().size()));
  for (const auto& x : m.members()) {
    put_u64(out, x.id);
    out.push_back(x.voter ? 1 : 0);
    put_u32(out, static_cast<std::uint32_t>(x.address.size()));
    out += x.address;
    put_u32(out, static_cast<std::uint32_t>(x.http_address.size()));
    out += x.http_address;
    if (wire) {
      put_u32(out, static_cast<std::uint32_t>(x.wire_address.size()));
      out += x.wire_address;
    }
  }
  return out;
}

std::optional<membership> decode_membership(std::string_view bytes, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<membership> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  reader r{bytes};
  std::string_view head;
  std::uint8_t ver = 0;
  if (!r.take(magic.size(), head) || head != magic) return fail("not a membership encoding (bad magic)");
  if (!r.u8(ver) || (ver != version_plain && ver != version_wire))
    return fail("unsupported membership encoding version " + std::to_string(ver));
  std::uint32_t count = 0;
  if (!r.u32(count)) return fail("truncated member count");
  if (count > max_members) return fail("member count " + std::to_string(count) + " exceeds " + std::to_string(max_members));
  membership out;
  node_id prev = no_node;
  for (std::uint32_t i = 0; i < count; ++i) {
    member m;
    std::uint8_t voter = 0;
    if (!r.u64(m.id) || !r.u8(voter) || !r.str(m.address) || !r.str(m.http_address) ||
        (ver == version_wire && !r.str(m.wire_address)))
      return fail("truncated member " + std::to_string(i));
    if (m.id == no_node) return fail("member " + std::to_string(i) + " has node id 0");
    if (m.id <= prev) return fail("member ids are not strictly increasing at member " + std::to_string(i));
    if (voter > 1) return fail("member " + std::to_string(m.id) + " has voter flag " + std::to_string(voter));
    m.voter = voter == 1;
    prev = m.id;
    out.put(std::move(m));
  }
  if (r.pos != bytes.size()) return fail(std::to_string(bytes.size() - r.pos) + " trailing bytes");
  return out;
}

}  // namespace troupe::raft
