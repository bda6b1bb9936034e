// Reference for bench/docker.sh: runs COUNT containers straight against a
// Docker daemon, with the very calls troupe's Docker backend makes, through the
// same HTTP client (runtime/exec/docker_client), CONCURRENCY at a time.
//
//   bench_docker_ref --socket PATH [--image IMG] [--count N] [--concurrency C]
//                    [--command CMD] [--mode client|backend|store] [--json]
//
// --mode client (default): per container, the sequence of
//   docker_backend::execute(): create (the backend's body: default sandbox,
//   labels troupe.job/troupe.node, `sh -c CMD`) -> start -> wait (with an
//   abort callback, as the backend passes one) -> logs -> inspect -> remove;
//   each step timed.
// --mode backend: docker_backend::run() itself (adds the on-disk job output
//   store under a temporary directory), still without any scheduling.
// --mode store: no container at all; only what the node's job_executor does
//   around backend::run() on disk (the start record, then the output store's
//   files and meta.json, each fsync'd), to price that part of a job.
// A container that does not exit 0 counts as an error. Prints containers/s and
// the mean/p50/p99/max seconds per container (and per step in client mode).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "runtime/exec/backend.hpp"
#include "runtime/exec/cancel_token.hpp"
#include "runtime/exec/docker_backend.hpp"
#include "runtime/exec/docker_client.hpp"
#include "runtime/exec/output_store.hpp"
#include "runtime/exec/start_journal.hpp"

namespace {

using namespace troupe::exec;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string socket;
  std::string image = "local/busybox:latest";
  std::string command = "true";
  long count = 100;
  int concurrency = 1;
  bool backend_mode = false;
  bool store_mode = false;
  bool json = false;
};

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "bench_docker_ref: " << msg << "\n";
  std::exit(2);
}

constexpr const char* step_names[] = {"create", "start", "wait", "logs", "inspect", "remove"};
constexpr int n_steps = 6;

struct sample {
  double total_s = 0;
  double step_s[n_steps] = {};
};

double secs(clock_type::time_point a, clock_type::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// One container the way docker_backend::execute() runs it; returns its exit status.
int run_client(const docker_client& client, const options& o, long i, sample& s) {
  container_config config;
  config.image = o.image;
  config.cmd = {"sh", "-c", o.command};
  config.labels = {{"troupe.job", "bench-ref-" + std::to_string(::getpid()) + "-" + std::to_string(i)},
                   {"troupe.node", "0"}};
  config.sandbox = sandbox_options{};  // the node's defaults ([executor.sandbox] unset)
  auto t0 = clock_type::now();
  std::string id = client.create_container(config);
  auto t1 = clock_type::now();
  int status = -1;
  try {
    client.start_container(id);
    auto t2 = clock_type::now();
    auto st = client.wait_container(id, std::chrono::seconds(30), [] { return false; });
    auto t3 = clock_type::now();
    std::string out, err;
    client.stream_logs(id, [&](docker_stream_id sid, std::string_view d) {
      (sid == docker_stream_id::stderr_ ? err : out).append(d);
    });
    auto t4 = clock_type::now();
    (void)client.inspect_container(id);
    auto t5 = clock_type::now();
    status = st ? *st : -1;
    s.step_s[0] = secs(t0, t1);
    s.step_s[1] = secs(t1, t2);
    s.step_s[2] = secs(t2, t3);
    s.step_s[3] = secs(t3, t4);
    s.step_s[4] = secs(t4, t5);
  } catch (...) {
    client.remove_container(id);
    throw;
  }
  auto t5 = clock_type::now();
  client.remove_container(id);
  auto t6 = clock_type::now();
  s.step_s[5] = secs(t5, t6);
  s.total_s = secs(t0, t6);
  return status;
}

struct stats {
  double mean = 0, p50 = 0, p99 = 0, max = 0;
};

stats summarize(std::vector<double> v) {
  stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  auto pct = [&](double p) {
    auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
  };
  s.p50 = pct(0.50);
  s.p99 = pct(0.99);
  s.max = v.back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--socket") o.socket = value();
    else if (a == "--image") o.image = value();
    else if (a == "--command") o.command = value();
    else if (a == "--count") o.count = std::atol(value().c_str());
    else if (a == "--concurrency") o.concurrency = std::atoi(value().c_str());
    else if (a == "--mode") {
      std::string m = value();
      if (m != "client" && m != "backend" && m != "store") die("--mode takes client, backend or store");
      o.backend_mode = m == "backend";
      o.store_mode = m == "store";
    } else if (a == "--json") o.json = true;
    else die("unknown argument " + a);
  }
  if (o.socket.empty()) die("--socket is required");
  if (o.count < 1 || o.count > 1000000) die("--count out of range");
  if (o.concurrency < 1 || o.concurrency > 1024) die("--concurrency out of range");

  docker_client client(o.socket);
  if (!o.store_mode && !client.ping()) die("no docker daemon answers at " + o.socket);

  docker_options dopt;
  dopt.socket_path = o.socket;
  docker_backend backend(dopt);
  std::filesystem::path outdir;
  if (o.backend_mode || o.store_mode) {
    char tmpl[] = "/tmp/troupe-docker-ref.XXXXXX";
    if (!::mkdtemp(tmpl)) die("mkdtemp failed");
    outdir = tmpl;
  }
  std::shared_ptr<start_journal> journal;
  if (o.store_mode) journal = std::make_shared<start_journal>(outdir.string());

  std::vector<sample> samples(static_cast<std::size_t>(o.count));
  std::atomic<long> next{0};
  std::atomic<long> errors{0};
  std::mutex err_mu;
  std::string first_error;
  auto worker = [&] {
    for (long i = next++; i < o.count; i = next++) {
      auto& s = samples[static_cast<std::size_t>(i)];
      try {
        if (o.store_mode) {
          job_spec spec;
          spec.job_id = "bench-store-" + std::to_string(::getpid()) + "-" + std::to_string(i);
          spec.output_dir = outdir.string();
          auto t0 = clock_type::now();
          journal->record(spec.job_id, 1);
          job_result r = run_with_output(spec, [](job_output&, job_result& jr) {
            jr.result = outcome::completed;
            jr.exit_code = 0;
          });
          s.total_s = secs(t0, clock_type::now());
          if (r.result != outcome::completed) {
            errors++;
            std::lock_guard<std::mutex> g(err_mu);
            if (first_error.empty()) first_error = r.error;
          }
        } else if (o.backend_mode) {
          job_spec spec;
          spec.job_id = "bench-ref-" + std::to_string(::getpid()) + "-" + std::to_string(i);
          spec.node_id = 0;
          spec.command = o.command;
          spec.image = o.image;
          spec.output_dir = outdir.string();
          cancel_token cancel;
          auto t0 = clock_type::now();
          job_result r = backend.run(spec, cancel);
          s.total_s = secs(t0, clock_type::now());
          if (r.result != outcome::completed) {
            errors++;
            std::lock_guard<std::mutex> g(err_mu);
            if (first_error.empty()) first_error = r.error;
          }
        } else if (run_client(client, o, i, s) != 0) {
          errors++;
          std::lock_guard<std::mutex> g(err_mu);
          if (first_error.empty()) first_error = "container exited non-zero";
        }
      } catch (const std::exception& e) {
        errors++;
        std::lock_guard<std::mutex> g(err_mu);
        if (first_error.empty()) first_error = e.what();
      }
    }
  };
  auto start = clock_type::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  double elapsed = secs(start, clock_type::now());
  if (!outdir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(outdir, ec);
  }

  std::vector<double> totals;
  std::vector<double> steps[n_steps];
  for (const auto& s : samples) {
    totals.push_back(s.total_s);
    for (int k = 0; k < n_steps; ++k) steps[k].push_back(s.step_s[k]);
  }
  stats t = summarize(totals);
  double rate = elapsed > 0 ? static_cast<double>(o.count) / elapsed : 0;
  if (o.json) {
    std::printf("{\"mode\":\"%s\",\"image\":\"%s\",\"count\":%ld,\"concurrency\":%d,\"elapsed_s\":%.4f,"
                "\"containers_per_s\":%.3f,\"errors\":%ld,\"container_s\":{\"mean\":%.4f,\"p50\":%.4f,\"p99\":%.4f,"
                "\"max\":%.4f}",
                o.store_mode ? "store" : o.backend_mode ? "backend" : "client", o.image.c_str(), o.count, o.concurrency, elapsed, rate,
                errors.load(), t.mean, t.p50, t.p99, t.max);
    if (!o.backend_mode && !o.store_mode) {
      std::printf(",\"step_s\":{");
      for (int k = 0; k < n_steps; ++k) {
        stats st = summarize(steps[k]);
        std::printf("%s\"%s\":{\"mean\":%.4f,\"p50\":%.4f,\"p99\":%.4f}", k ? "," : "", step_names[k], st.mean,
                    st.p50, st.p99);
      }
      std::printf("}");
    }
    std::printf("}\n");
  } else {
    std::printf("%s mode, %ld containers of %s, concurrency %d: %.3f s, %.2f containers/s, %ld errors\n",
                o.store_mode ? "store" : o.backend_mode ? "backend" : "client", o.count, o.image.c_str(), o.concurrency, elapsed, rate,
                errors.load());
    std::printf("per container s: mean %.4f p50 %.4f p99 %.4f max %.4f\n", t.mean, t.p50, t.p99, t.max);
    if (!o.backend_mode && !o.store_mode)
      for (int k = 0; k < n_steps; ++k) {
        stats st = summarize(steps[k]);
        std::printf("  %-8s mean %.4f p50 %.4f p99 %.4f\n", step_names[k], st.mean, st.p50, st.p99);
      }
  }
  if (errors.load() > 0) {
    std::fprintf(stderr, "bench_docker_ref: %ld of %ld containers failed; first: %s\n", errors.load(), o.count,
                 first_error.c_str());
    return 1;
  }
  return 0;
}
