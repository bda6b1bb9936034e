#include "gateway/http_events.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "config/timeouts.hpp"
#include "gateway/http_json.hpp"
#include "gateway/http_parse.hpp"

namespace troupe {
namespace {

using json = nlohmann::json;

// One SSE stream: a change_listener actor fills the queue, the connection's
// thread drains it. Shared so neither side outlives the other's data.
struct event_stream {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> queue;  // complete "event: ...\ndata: ...\n\n" frames
  std::size_t queued_bytes = 0;
  bool overflow = false;

  void push(std::string frame) {
    {
      std::lock_guard<std::mutex> g(mu);
      if (overflow) return;
      if (!queue.empty() && queued_bytes + frame.size() > max_event_backlog_bytes) {
        // Drop what is queued: the stream ends with "overflow" and its memory is freed now.
        overflow = true;
        queue.clear();
        queued_bytes = 0;
      } else {
        queued_bytes += frame.size();
        queue.push_back(std::move(frame));
      }
    }
    cv.notify_one();
  }
};

// Job output is bytes: invalid UTF-8 becomes U+FFFD (reply_text) instead of a
// json::type_error that would kill the listener actor.
std::string sse_frame(const char* event, const json& data) {
  return std::string("event: ") + event + "\ndata: " + http_parse::reply_text(data) + "\n\n";
}

const char* change_name(jobs::change_kind k) {
  switch (k) {
    case jobs::change_kind::created: return "created";
    case jobs::change_kind::updated: return "updated";
    case jobs::change_kind::evicted: return "evicted";
  }
  return "unknown";
}

// Gives the stream's slot back when the response holding it is destroyed,
// whether or not the stream ever started.
struct stream_slot {
  std::shared_ptr<std::atomic<int>> counter;
  explicit stream_slot(std::shared_ptr<std::atomic<int>> c) : counter(std::move(c)) {}
  ~stream_slot() { counter->fetch_sub(1); }
  stream_slot(const stream_slot&) = delete;
  stream_slot& operator=(const stream_slot&) = delete;
};

void run_stream(caf::actor_system& sys, const node_service_actor& service, http::stream_sink& sink) {
  auto stream = std::make_shared<event_stream>();
  auto listener = sys.spawn([stream, service](change_listener::pointer self) -> change_listener::behavior_type {
    self->request(service, caf::infinite, subscribe_atom::value, change_listener{self})
        .then([stream](job_snapshot_view& v) {
          stream->push(sse_frame("hello", {{"applied_index", v.applied_index}, {"jobs", v.jobs.size()}}));
        });
    return {
        [stream](const job_changes& jc) {
          for (const auto& c : jc.changes)
            stream->push(sse_frame(
                "job", {{"kind", change_name(c.kind)}, {"index", c.index}, {"job", http_json::job_json(c.after)}}));
        },
    };
  });
  // Wait at most sse_poll per round so a client that left or a server
  // shutdown is noticed; a comment line every sse_keepalive keeps proxies from
  // closing an idle stream.
  auto idle_since = std::chrono::steady_clock::now();
  while (true) {
    std::unique_lock<std::mutex> lk(stream->mu);
    stream->cv.wait_for(lk, config::sse_poll, [&] { return !stream->queue.empty() || stream->overflow; });
    if (stream->overflow) {
      lk.unlock();
      sink.write(sse_frame("overflow", {{"error", "event reader is too slow; reconnect"}}));
      break;
    }
    if (stream->queue.empty()) {
      lk.unlock();
      if (!sink.alive()) break;
      if (std::chrono::steady_clock::now() - idle_since > config::sse_keepalive) {
        if (!sink.write(": keepalive\n\n")) break;
        idle_since = std::chrono::steady_clock::now();
      }
      continue;
    }
    std::string out;
    while (!stream->queue.empty()) {
      out += stream->queue.front();
      stream->queue.pop_front();
    }
    stream->queued_bytes = 0;
    lk.unlock();
    if (!sink.write(out)) break;
    idle_since = std::chrono::steady_clock::now();
  }
  caf::anon_send(service, unsub_atom::value, listener);
  caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
}

}  // namespace

void serve_events(caf::actor_system& sys, node_service_actor service, http::response& res,
                  std::shared_ptr<std::atomic<int>> open_streams) {
  auto slot = std::make_shared<stream_slot>(std::move(open_streams));
  res.status = 200;
  res.set_header("Content-Type", "text/event-stream");
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  res.stream = [&sys, service, slot](http::stream_sink& sink) { run_stream(sys, service, sink); };
}

}  // namespace troupe
