#include "actors/backup_taker.hpp"

#include <memory>

#include "config/timeouts.hpp"
#include "protocol/errors.hpp"
#include "runtime/backup/spool_file.hpp"

namespace troupe {
namespace {

using self_ptr = backup_taker_actor::stateful_pointer<backup_taker_state>;
using image_promise = caf::typed_response_promise<table_image>;

void fail(self_ptr self, image_promise rp, caf::error e) {
  rp.deliver(std::move(e));
  self->quit();
}

// Asks for the next piece (the first when id is 0) and spools it; the last
// one answers the image.
void take(self_ptr self, job_table_actor table, std::shared_ptr<backup::spool_file> spool, std::uint64_t min_index,
          image_promise rp, std::uint64_t id) {
  auto on_piece = [=](backup_piece& p) mutable {
    if (p.index < min_index)  // would break the caller's promise of a linearizable image
      return fail(self, rp, make_error(errc::internal, "the job table answered at index " + std::to_string(p.index) +
                                                           ", below the read index " + std::to_string(min_index)));
    try {
      spool->append(p.bytes);
    } catch (const std::exception& e) {
      return fail(self, rp, make_error(errc::internal, std::string("cannot spool the backup: ") + e.what()));
    }
    if (!p.last) return take(self, table, spool, min_index, rp, p.id);
    rp.deliver(table_image{p.index, p.term, p.job_count, std::move(spool)});
    self->quit();
  };
  auto on_error = [=](caf::error& e) mutable { fail(self, rp, std::move(e)); };
  // Each piece is a few ms of the table's time; the wait is a query's.
  if (id == 0)
    self->request(table, config::query_timeout, backup_atom::value).then(on_piece, on_error);
  else
    self->request(table, config::query_timeout, backup_atom::value, id).then(on_piece, on_error);
}

}  // namespace

backup_taker_actor::behavior_type backup_taker(backup_taker_actor::stateful_pointer<backup_taker_state> self,
                                               job_table_actor table, std::string spool_dir,
                                               std::uint64_t min_index) {
  return {
      [=](backup_atom) -> caf::result<table_image> {
        auto rp = self->make_response_promise<table_image>();
        std::shared_ptr<backup::spool_file> spool;
        try {
          spool = std::make_shared<backup::spool_file>(spool_dir);
        } catch (const std::exception& e) {
          fail(self, rp, make_error(errc::internal, std::string("cannot spool the backup: ") + e.what()));
          return rp;
        }
        take(self, table, std::move(spool), min_index, rp, 0);
        return rp;
      },
  };
}

}  // namespace troupe
