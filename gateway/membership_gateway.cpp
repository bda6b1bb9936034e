#include "gateway/membership_gateway.hpp"

#include "config/timeouts.hpp"
#include "gateway/grpc_unary.hpp"
#include "membership.grpc.pb.h"

namespace troupe {
namespace {

namespace pb = ::troupe::membership;

void to_proto(const raft::membership& conf, google::protobuf::RepeatedPtrField<pb::Member>* out) {
  for (const auto& m : conf.members()) {
    auto* p = out->Add();
    p->set_id(m.id);
    p->set_address(m.address);
    p->set_http_address(m.http_address);
    p->set_voter(m.voter);
    p->set_wire_address(m.wire_address);
  }
}

class membership_service final : public pb::MembershipService::CallbackService {
 public:
  membership_service(caf::actor_system& sys, config::node_config cfg, node_service_actor service)
      : context_(sys, std::move(cfg), std::move(service)) {}

  grpc::ServerUnaryReactor* AddMember(grpc::CallbackServerContext* ctx, const pb::AddMemberRequest* req,
                                      pb::AddMemberResponse* resp) override {
    return change(ctx, *req, resp,
                  {member_change::op::add, req->id(), req->address(), req->http_address(), req->wire_address()});
  }

  grpc::ServerUnaryReactor* RemoveMember(grpc::CallbackServerContext* ctx, const pb::RemoveMemberRequest* req,
                                         pb::RemoveMemberResponse* resp) override {
    return change(ctx, *req, resp, {member_change::op::remove, req->id(), {}, {}, {}});
  }

  grpc::ServerUnaryReactor* ListMembers(grpc::CallbackServerContext* ctx, const pb::ListMembersRequest* req,
                                        pb::ListMembersResponse* resp) override {
    return context_.call<raft_status>(
        ctx, access::operation::list_members, *req, config::outer(config::query_timeout),
        [=](const raft_status& rs) {
          to_proto(rs.conf, resp->mutable_members());
          resp->set_config_index(rs.conf_index);
          resp->set_committed(rs.conf_committed);
          resp->set_leader_id(rs.leader_id);
          resp->set_node_id(rs.node_id);
        },
        member_atom::value, bool{req->local()});
  }

 private:
  // Add and remove answer alike: the configuration the change made.
  template <class Resp>
  grpc::ServerUnaryReactor* change(grpc::CallbackServerContext* ctx, const google::protobuf::Message& req, Resp* resp,
                                   member_change c) {
    return context_.call<member_result>(
        ctx, access::operation::change_members, req, config::outer(config::member_change_wait(context_.cfg)),
        [=](const member_result& r) {
          to_proto(r.conf, resp->mutable_members());
          resp->set_config_index(r.index);
        },
        member_atom::value, std::move(c));
  }

  grpc_unary::service_context context_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_membership_service(caf::actor_system& sys, const config::node_config& cfg,
                                                       node_service_actor service) {
  return std::make_unique<membership_service>(sys, cfg, std::move(service));
}

}  // namespace troupe
