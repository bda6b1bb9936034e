// The dispatcher's pending queue (actors/pending_queue) with N jobs queued:
//  - steady: a new job queued at the back and the oldest placed, per pair;
//  - re-queue: K jobs of a lost worker come back at their creation times,
//    spread over the queue (one requeue_jobs entry's worth: ~5,600).
//   bench_pending_queue [queued=100000] [requeued=5600]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "actors/pending_queue.hpp"

namespace {

using clk = std::chrono::steady_clock;

std::string job_id(long i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08lx-0000-4000-8000-%012ld", (i * 2654435761L) & 0xffffffffL, i);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const long queued = argc > 1 ? std::atol(argv[1]) : 100000;
  const long requeued = argc > 2 ? std::atol(argv[2]) : 5600;
  const long pairs = 500000;
  // Ids made beforehand: only the queue is timed.
  std::vector<std::string> ids;
  for (long i = 0; i < queued + pairs + requeued; ++i) ids.push_back(job_id(i));
  troupe::pending_queue q;
  for (long i = 0; i < queued; ++i) q.push(ids[i], i * 1000);

  auto t0 = clk::now();
  for (long k = 0; k < pairs; ++k) {
    q.push(ids[queued + k], (queued + k) * 1000);
    q.erase(ids[k]);
  }
  auto t1 = clk::now();
  // Created between the queued jobs: each goes to its place in the middle.
  std::mt19937_64 rng(1);
  const long first = pairs * 1000, span = queued * 1000;
  for (long k = 0; k < requeued; ++k) q.push(ids[queued + pairs + k], first + static_cast<long>(rng() % span) + 1);
  auto t2 = clk::now();
  std::printf("queued %ld: steady (push newest, erase oldest) %.3f us per pair; %ld re-queued jobs put back in %.2f ms\n",
              queued, std::chrono::duration<double, std::micro>(t1 - t0).count() / pairs, requeued,
              std::chrono::duration<double, std::milli>(t2 - t1).count());
  return q.size() == static_cast<std::size_t>(queued + requeued) ? 0 : 1;
}
