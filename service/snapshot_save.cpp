#include "service/snapshot_save.hpp"

#include "config/timeouts.hpp"
#include "protocol/errors.hpp"

namespace troupe {

void save_snapshot(node_service_actor::pointer self, const ctx_ptr& c, caf::typed_response_promise<table_image> rp) {
  // raft_node answers the read once the leader confirmed its leadership and
  // handed every entry up to the read index to the table. It sent those
  // entries to the table before it answered us, and we ask the table only
  // after that answer, so the table applies them before it reads our request.
  self->request(c->raft, config::commit_wait(c->cfg), read_atom::value)
      .then(
          [=](std::uint64_t read_index) mutable {
            self->request(c->table, config::table_image_timeout, backup_atom::value)
                .then(
                    [=](table_image& img) mutable {
                      if (img.index < read_index) {  // would break the promise above: never hand it out
                        rp.deliver(make_error(errc::internal, "the job table answered at index " +
                                                                  std::to_string(img.index) + ", below the read index " +
                                                                  std::to_string(read_index)));
                        return;
                      }
                      rp.deliver(std::move(img));  // moved: the bytes are not copied on the way up
                    },
                    [=](caf::error& e) mutable { rp.deliver(e); });
          },
          [=](caf::error& e) mutable { rp.deliver(e); });
}

}  // namespace troupe
