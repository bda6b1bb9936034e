// The node's actor tree as the bootstrap actually spawned it: one table, built
// row by row from the handles spawn() returned, that the bootstrap uses to
// monitor its core actors (fail-stop), to stop them (reverse spawn order), and
// to print the topology (start-up log, GET /api/topology). What is shown is
// therefore what runs; a renamed or rewired actor cannot drift from it.
#pragma once

#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>

#include "protocol/messages.hpp"

namespace troupe {

class actor_tree {
 public:
  // One actor the bootstrap spawned and monitors. `sends_to` names rows added
  // before it (the handles it was given); `note` says what else it monitors.
  template <class Handle>
  void add(std::string name, const Handle& h, std::vector<std::string> sends_to, std::string detail,
           std::string note = {}) {
    rows_.push_back({std::move(name), caf::actor_cast<caf::actor>(h), std::move(sends_to), std::move(detail),
                     std::move(note)});
  }
  // Something the bootstrap runs that is not an actor (the HTTP server's threads).
  void add_external(std::string name, std::string detail);

  // Every actor row, in spawn order.
  std::vector<caf::actor> actors() const;
  // The rows as topology entries: ids, parent, what monitors / is monitored,
  // and the resolved ids of the actors each one sends to.
  topology describe() const;

 private:
  struct row {
    std::string name;
    caf::actor handle;  // null for external rows
    std::vector<std::string> sends_to;
    std::string detail;
    std::string note;
  };
  std::string ref(const std::string& name) const;
  std::vector<row> rows_;
};

}  // namespace troupe
