#include "service/snapshot_save.hpp"

#include "actors/backup_taker.hpp"
#include "config/timeouts.hpp"
#include "protocol/errors.hpp"

namespace troupe {

void save_snapshot(node_service_actor::pointer self, const ctx_ptr& c, caf::typed_response_promise<table_image> rp) {
  // raft_node answers the read once the leader confirmed its leadership and
  // handed every entry up to the read index to the table. It sent those
  // entries to the table before it answered us, and the taker asks the table
  // only after that answer, so the table applies them before it begins the
  // image.
  self->request(c->raft, config::commit_wait(c->cfg), read_atom::value)
      .then(
          [=](std::uint64_t read_index) mutable {
            auto taker = self->home_system().spawn<caf::detached>(backup_taker, c->table, c->cfg.data_dir, read_index);
            self->request(taker, config::table_image_timeout, backup_atom::value)
                .then([=](table_image& img) mutable { rp.deliver(std::move(img)); },
                      [=](caf::error& e) mutable {
                        // Timed out here: the taker must not go on spooling
                        // (and holding the table's backup) for nobody.
                        self->send_exit(taker, caf::exit_reason::user_shutdown);
                        rp.deliver(e);
                      });
          },
          [=](caf::error& e) mutable { rp.deliver(e); });
}

}  // namespace troupe
