// transport/peer_identity: which node a verified certificate names, from the
// properties gRPC's TLS handshake puts into the AuthContext.
#include <doctest/doctest.h>

#include <map>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/grpcpp.h>

#include "transport/peer_identity.hpp"

namespace {

// AuthPropertyIterator's default constructor is protected; an empty range is
// all the fake needs.
struct no_properties : grpc::AuthPropertyIterator {
  no_properties() {}
};

// The AuthContext of a TLS connection, as far as certified_node() reads it.
class fake_auth final : public grpc::AuthContext {
 public:
  fake_auth(bool verified, std::multimap<std::string, std::string> props)
      : verified_(verified), props_(std::move(props)) {}
  bool IsPeerAuthenticated() const override { return verified_; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override {
    return FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME);
  }
  std::string GetPeerIdentityPropertyName() const override { return GRPC_X509_SAN_PROPERTY_NAME; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    std::vector<grpc::string_ref> out;
    auto range = props_.equal_range(name);
    for (auto it = range.first; it != range.second; ++it) out.emplace_back(it->second);
    return out;
  }
  grpc::AuthPropertyIterator begin() const override { return no_properties{}; }
  grpc::AuthPropertyIterator end() const override { return no_properties{}; }
  void AddProperty(const std::string& key, const grpc::string_ref& value) override {
    props_.emplace(key, std::string(value.data(), value.size()));
  }
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }

 private:
  bool verified_;
  std::multimap<std::string, std::string> props_;
};

const std::string cn = GRPC_X509_CN_PROPERTY_NAME;
const std::string san = GRPC_X509_SAN_PROPERTY_NAME;

}  // namespace

TEST_CASE("node_id_of accepts exactly node-<positive id>") {
  using troupe::transport::node_id_of;
  CHECK(node_id_of("node-1") == 1u);
  CHECK(node_id_of("node-42") == 42u);
  CHECK(node_id_of("node-9999999999999999999") == 9999999999999999999ull);
  CHECK_FALSE(node_id_of("node-"));
  CHECK_FALSE(node_id_of("node-0"));
  CHECK_FALSE(node_id_of("node-01"));
  CHECK_FALSE(node_id_of("node-+1"));
  CHECK_FALSE(node_id_of("node-1 "));
  CHECK_FALSE(node_id_of("node-2x"));
  CHECK_FALSE(node_id_of("Node-2"));
  CHECK_FALSE(node_id_of("client-node-2"));
  CHECK_FALSE(node_id_of("node-18446744073709551616"));  // 2^64: 20 digits
  CHECK_FALSE(node_id_of("localhost"));
}

TEST_CASE("certified_node reads CN and DNS SANs of a verified certificate") {
  using troupe::transport::certified_node;
  // What make-certs.sh issues: CN node-2; SANs node-2, localhost, 127.0.0.1.
  CHECK(certified_node(fake_auth(true, {{cn, "node-2"}, {san, "node-2"}, {san, "localhost"}, {san, "127.0.0.1"}})) ==
        2u);
  CHECK(certified_node(fake_auth(true, {{cn, "some host"}, {san, "node-7"}})) == 7u);  // a SAN may carry it
  CHECK(certified_node(fake_auth(true, {{cn, "node-3"}})) == 3u);
  // Not verified against the CA: no identity, whatever it says.
  CHECK_FALSE(certified_node(fake_auth(false, {{cn, "node-2"}, {san, "node-2"}})));
  // A client certificate names no node.
  CHECK_FALSE(certified_node(fake_auth(true, {{cn, "client-ci"}, {san, "client-ci"}})));
  // Two different nodes: ambiguous, so no one.
  CHECK_FALSE(certified_node(fake_auth(true, {{cn, "node-2"}, {san, "node-3"}})));
  // No properties at all (plaintext).
  CHECK_FALSE(certified_node(fake_auth(true, {})));
}
