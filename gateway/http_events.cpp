#include "gateway/http_events.hpp"

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "config/timeouts.hpp"
#include "gateway/http_json.hpp"

namespace troupe {
namespace {

using json = nlohmann::json;

// One SSE stream: a change_listener actor fills the queue, the httplib
// worker thread drains it. Shared so neither side outlives the other's data.
struct event_stream {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> queue;  // complete "event: ...\ndata: ...\n\n" frames
  bool overflow = false;
  static constexpr std::size_t max_backlog = 10000;

  void push(std::string frame) {
    {
      std::lock_guard<std::mutex> g(mu);
      if (queue.size() >= max_backlog) {
        overflow = true;
        return;
      }
      queue.push_back(std::move(frame));
    }
    cv.notify_one();
  }
};

std::string sse_frame(const char* event, const json& data) {
  return std::string("event: ") + event + "\ndata: " + data.dump() + "\n\n";
}

const char* change_name(jobs::change_kind k) {
  switch (k) {
    case jobs::change_kind::created: return "created";
    case jobs::change_kind::updated: return "updated";
    case jobs::change_kind::evicted: return "evicted";
  }
  return "unknown";
}

}  // namespace

void serve_events(caf::actor_system& sys, node_service_actor service, httplib::Response& res,
                  std::shared_ptr<std::atomic<bool>> stopping, std::shared_ptr<std::atomic<int>> open_streams) {
  auto stream = std::make_shared<event_stream>();
  auto listener = sys.spawn([stream, service](change_listener::pointer self) -> change_listener::behavior_type {
    self->request(service, caf::infinite, subscribe_atom::value, change_listener{self})
        .then([stream](job_snapshot_view& v) {
          stream->push(sse_frame("hello", {{"applied_index", v.applied_index}, {"jobs", v.jobs.size()}}));
        });
    return {
        [stream](const job_changes& jc) {
          for (const auto& c : jc.changes)
            stream->push(sse_frame("job", {{"kind", change_name(c.kind)}, {"index", c.index}, {"job", http_json::job_json(c.after)}}));
        },
    };
  });
  auto counter = open_streams;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [stream, stopping](std::size_t, httplib::DataSink& sink) {
        // Wait at most 1 s per call so server shutdown is noticed; a comment
        // line every 15 s keeps proxies from closing an idle stream and
        // reveals a client that went away.
        std::unique_lock<std::mutex> lk(stream->mu);
        auto idle_since = std::chrono::steady_clock::now();
        while (stream->queue.empty() && !stream->overflow) {
          if (stopping->load() || !sink.is_writable()) return false;
          if (std::chrono::steady_clock::now() - idle_since > config::sse_keepalive) {
            lk.unlock();
            static constexpr char keepalive[] = ": keepalive\n\n";
            return sink.write(keepalive, sizeof keepalive - 1);
          }
          stream->cv.wait_for(lk, config::sse_poll);
        }
        if (stream->overflow) {
          lk.unlock();
          auto frame = sse_frame("overflow", {{"error", "event reader is too slow; reconnect"}});
          sink.write(frame.data(), frame.size());
          return false;
        }
        std::string out;
        while (!stream->queue.empty()) {
          out += stream->queue.front();
          stream->queue.pop_front();
        }
        lk.unlock();
        return sink.write(out.data(), out.size());
      },
      [service, listener, counter](bool) {
        caf::anon_send(service, unsub_atom::value, listener);
        caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
        counter->fetch_sub(1);
      });
}

}  // namespace troupe
