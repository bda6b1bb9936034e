// Writes the seed corpora (fuzz/corpus/<target>/) from the real encoders, so
// the binary seeds stay valid when a format changes: run
// `bash scripts/fuzz.sh seeds` and commit the result. A few valid examples per
// target; the fuzzer mutates from there.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "protocol/raft_codec.hpp"
#include "runtime/backup/backup_file.hpp"
#include "runtime/jobs/snapshot_codec.hpp"
#include "runtime/raft/membership.hpp"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/record_codec.hpp"
#include "runtime/storage/state_files.hpp"
#include "transport/wire_format.hpp"
#include "log_command.pb.h"

namespace {

using namespace troupe;

std::string out_dir;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  std::ofstream f(out_dir + "/" + target + "/" + name, std::ios::binary);
  f << bytes;
  if (!f) {
    std::cerr << "make_seeds: cannot write " << target << "/" << name << "\n";
    std::exit(1);
  }
}

// record_fuzz input: flag byte (bit 0 = last segment, bits 1..7 = first index - 1) + segment.
std::string segment(bool last, raft::index_t first, const std::vector<raft::entry>& entries) {
  std::string out(1, static_cast<char>((last ? 1 : 0) | ((first - 1) << 1)));
  for (const raft::entry& e : entries) storage::encode_record(e, out);
  return out;
}

void records() {
  const std::vector<raft::entry> three{{1, 1, raft::entry_type::noop, ""},
                                       {1, 2, raft::entry_type::normal, "submit job-1"},
                                       {2, 3, raft::entry_type::normal, std::string(40, 'x')}};
  write("record", "three_records_last", segment(true, 1, three));
  write("record", "three_records_middle", segment(false, 1, three));
  std::string torn = segment(true, 1, three);
  torn.resize(torn.size() - 10);
  write("record", "torn_tail", torn);
  write("record", "first_index_5", segment(true, 5, {{3, 5, raft::entry_type::normal, "a"}, {3, 6, raft::entry_type::noop, ""}}));
  write("record", "empty_segment", segment(true, 1, {}));
}

std::string snapshot(std::uint64_t applied, const std::set<std::uint64_t>& workers,
                     const std::set<std::uint64_t>& draining, const std::vector<jobs::job>& js) {
  std::vector<const jobs::job*> ptrs;
  for (const auto& j : js) ptrs.push_back(&j);
  return jobs::encode_snapshot(applied, workers, draining, ptrs);
}

// Version 1: version 2 without the draining set (an empty set's count is 8 zero bytes).
std::string as_version_1(std::string v2) {
  v2.resize(v2.size() - 4);                        // the CRC
  v2[8] = 1;                                       // version, little-endian
  const std::size_t workers_at = 8 + 4 + 8;
  const std::uint64_t nworkers = static_cast<unsigned char>(v2[workers_at]);  // < 256 here
  v2.erase(workers_at + 8 + 8 * nworkers, 8);      // the empty draining set
  const std::uint32_t crc = jobs::crc32(v2);
  for (int i = 0; i < 4; ++i) v2.push_back(static_cast<char>(crc >> (8 * i)));
  return v2;
}

void snapshots() {
  write("snapshot", "empty", snapshot(0, {}, {}, {}));
  jobs::job pending;
  pending.id = "job-1";
  pending.command = "echo hi";
  pending.created_at_ns = 1'000;
  pending.updated_index = 3;
  jobs::job done = pending;
  done.id = "job-2";
  done.image = "alpine:latest";
  done.status = jobs::job_status::completed;
  done.assigned_worker = done.executed_by = 2;
  done.exit_code = 0;
  done.attempts = 1;
  done.created_at_ns = 2'000;
  done.started_at_ns = 2'500;
  done.completed_at_ns = 3'000;
  done.stdout_inline = "hi\n";
  done.assigned_at_ns = 2'100;
  jobs::job running = done;
  running.id = "job-3";
  running.status = jobs::job_status::running;
  running.exit_code.reset();
  running.completed_at_ns.reset();
  running.created_at_ns = 4'000;
  const std::string full = snapshot(9, {1, 2, 3}, {3}, {pending, done, running});
  write("snapshot", "three_jobs", full);
  write("snapshot", "three_jobs_v1", as_version_1(snapshot(9, {1, 2}, {}, {pending, done, running})));
}

void configs() {
  write("config", "minimal.toml",
        "[node]\nid = 1\ndata_dir = \"d\"\n\n[[members]]\nid = 1\naddress = \"127.0.0.1:50051\"\n");
  write("config", "three_members.toml",
        "[node]\nid = 2\ndata_dir = \"d\"\n[listen]\ngrpc = \"0.0.0.0:50052\"\nhttp = \"0.0.0.0:8082\"\n"
        "[[members]]\nid = 3\naddress = \"127.0.0.1:50053\"\nhttp = \"127.0.0.1:8083\"\n"
        "[[members]]\nid = 1\naddress = \"127.0.0.1:50051\"\n"
        "[[members]]\nid = 2\naddress = \"localhost:50052\"\n"
        "[executor]\nbackend = \"process\"\n[executor.sandbox]\ncpus = 0.5\nnetwork = \"none\"\n"
        "[log]\nlevel = \"debug\"\n");
}

// rest_fuzz input: byte 0 picks the request (0 submit, 1 transfer, 2 drain, 3 list, 4 raft log).
void rest() {
  write("rest", "submit", std::string(1, 0) + R"({"command":"echo hi","image":"alpine:latest"})");
  write("rest", "submit_null_image", std::string(1, 0) + R"({"command":"ls -l","image":null})");
  write("rest", "transfer", std::string(1, 1) + R"({"target_node_id":2})");
  write("rest", "transfer_empty", std::string(1, 1));
  write("rest", "drain", std::string(1, 2) + "{}");
  write("rest", "list", std::string(1, 3) + "page_size=2&status=pending&command=echo&created_after_ms=1000");
  write("rest", "list_worker", std::string(1, 3) + "worker=2&created_before_ms=99999&page_token=abc");
  write("rest", "raft_log", std::string(1, 4) + "start_index=5&limit=10");
}

// http_fuzz input: byte 0 picks the piece size of the split feed; then a connection's bytes.
void http_requests() {
  write("http", "get_keepalive", std::string(1, 0) + "GET /api/jobs?status=running&command=echo%20hi+x HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nAccept: */*\r\n\r\n");
  write("http", "post_json", std::string(1, 7) + "POST /api/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"command\":\"echo x\"}");
  write("http", "pipelined", std::string(1, 3) + "GET /health/live HTTP/1.1\r\nHost: a\r\n\r\nDELETE /api/jobs/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  write("http", "expect_continue", std::string(1, 1) + "POST /api/drain HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}");
  write("http", "chunked_refused", std::string(1, 5) + "POST /api/jobs HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  write("http", "http10_bare_lf", std::string(1, 2) + "GET /metrics HTTP/1.0\nConnection: keep-alive\n\n");
  std::string many = std::string(1, 11) + "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 12; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  write("http", "too_many_headers", many + "\r\n");
}

// raft_fuzz input: byte 0 (bit 0: 5 nodes), then one byte per choice.
void raft_runs() {
  std::string calm(1, 0);
  calm += std::string(300, '\x80');  // mid-range choices: few drops, no crashes
  write("raft", "three_nodes_calm", calm);
  std::string mixed(1, 1);
  std::uint32_t x = 12345;
  for (int i = 0; i < 600; ++i) {
    x = x * 1103515245u + 12345u;
    mixed.push_back(static_cast<char>(x >> 24));
  }
  write("raft", "five_nodes_mixed", mixed);
}

// wire_fuzz input: byte 0 (bits 0..5: piece size - 1, bit 6: a 64-byte
// frame limit), then frames as a dialer sends them after its hello.
std::string frames(const std::vector<std::vector<raft::message>>& batches) {
  std::string out;
  for (const auto& msgs : batches) {
    raftpb::RaftBatch b;
    for (const raft::message& m : msgs) codec::to_proto(m, *b.add_messages());
    transport::wire::append_frame(out, b);
  }
  return out;
}

void wire_streams() {
  raft::message hb{raft::msg_type::heartbeat, 2, 1, 3, 0, 0, {}, 7, false, 0, "ctx", {}};
  raft::message app{raft::msg_type::append, 2, 1, 3, 3, 7, {}, 7, false, 0, "", {}};
  app.entries = {{3, 8, raft::entry_type::normal, "submit job-8"}, {3, 9, raft::entry_type::noop, ""}};
  raft::message resp{raft::msg_type::append_response, 3, 1, 3, 0, 9, {}, 0, false, 0, "", {}};
  raft::message stranger = hb;
  stranger.from = 9;
  write("wire", "heartbeat_bytewise", std::string(1, 0) + frames({{hb}}));
  write("wire", "append_pieces_of_7", std::string(1, 6) + frames({{app}}));
  write("wire", "two_frames", std::string(1, 63) + frames({{app, hb}, {resp}}));
  write("wire", "over_small_limit", std::string(1, 64 | 3) + frames({{hb}, {app}}));
  std::string torn = frames({{hb}, {app}});
  torn.resize(torn.size() - 5);
  write("wire", "torn_second_frame", std::string(1, 2) + torn);
  write("wire", "stranger", std::string(1, 9) + frames({{stranger}}));
  write("wire", "not_a_batch", std::string(1, 4) + std::string("\0\0\0\x05\xff\xff\xff\xff\xff", 9));
}

// state_fuzz input: byte 0 (mod 4: 0 a configuration's encoding, 1 a hard
// state file, 2 a snapshot file, 3 a backup file), then the bytes.
void state_files() {
  raft::membership plain = raft::membership::of_voters({1, 2, 3});
  raft::membership wired;
  wired.put(raft::member{1, true, "127.0.0.1:50051", "127.0.0.1:8081", ""});
  wired.put(raft::member{4, false, "10.0.0.4:50051", "10.0.0.4:8081", "10.0.0.4:50061"});
  write("state", "conf_v1", std::string(1, 0) + raft::encode(plain));
  write("state", "conf_v2_wire", std::string(1, 0) + raft::encode(wired));
  write("state", "hard_state", std::string(1, 1) + storage::encode_hard_state(raft::hard_state{7, 2, 41}));
  write("state", "snapshot_v2",
        std::string(1, 2) + storage::encode_snapshot(raft::snapshot{{40, 3, plain}, "the table's bytes"}));
  write("state", "snapshot_v2_wire",
        std::string(1, 2) + storage::encode_snapshot(raft::snapshot{{90, 5, wired}, std::string()}));
  // Version 1 (builds before the addresses): the voters' ids in place of the
  // configuration's encoding.
  std::string v1 = "TRSN";
  auto u32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) v1.push_back(static_cast<char>(v >> (8 * i))); };
  auto u64 = [&](std::uint64_t v) { for (int i = 0; i < 8; ++i) v1.push_back(static_cast<char>(v >> (8 * i))); };
  u32(1);
  u64(12);
  u64(2);
  u32(2);
  u64(1);
  u64(2);
  u64(3);
  v1 += "abc";
  u32(storage::crc32c(v1));
  write("state", "snapshot_v1", std::string(1, 2) + v1);
  jobs::job j;
  j.id = "job-1";
  j.command = "echo hi";
  j.created_at_ns = 1'000;
  const std::string table = snapshot(41, {1, 2}, {}, {j});
  const backup::metadata meta{backup::format_version, 41, 3, 1, table.size()};
  write("state", "backup", std::string(1, 3) + backup::encode(meta, table));
}

// apply_fuzz input: one byte per choice (apply_fuzz.cpp's next_command and
// apply_one): an op (submit 0, assign 2, status batch 4, cancel 6, requeue 7,
// register 9, evict 10, drain 11, raw 12, snapshot 14, list 15, checkpoint
// 16, forget_workers 17), then its arguments.
void apply_logs() {
  using bytes = std::vector<std::uint8_t>;
  auto put = [](const std::string& name, const bytes& b) { write("apply", name, std::string(b.begin(), b.end())); };
  // job-a submitted, assigned to worker 1, running, completed with output,
  // listed, checkpointed, evicted.
  put("lifecycle", {0, 0, 1, 2, 0,  9, 1,  2, 0, 1, 3,  4, 1, 0, 2, 1, 1, 4, 5,  16,
                    4, 1, 0, 3 | 8, 1, 1, 0x25, 6,  15, 0, 1, 1,  15, 3, 0x21, 0x05,  10, 20,  15, 0, 0, 0});
  // Three jobs, a snapshot begun and taken a job at a time while one
  // completes, one is cancelled and one is placed by its submit (assign_to).
  put("pieces", {0, 0, 1, 2, 0,  0, 1, 2, 2, 0,  0, 2, 1, 2, 0,  14, 0,  14, 1, 1,  14, 2,  2, 0, 2, 3,
                 6, 1, 4,  4, 1, 0, 3, 2, 1, 5, 7,  14, 1, 1,  14, 2,  0, 3, 1, 1, 0x18,  14, 1, 4,  14, 2,  16});
  // Requeues until out of attempts, a drained worker refused, a stale
  // replay, then forget_workers.
  put("requeue_drain", {0, 4, 1, 3, 0,  2, 4, 2, 1,  7, 4, 3, 2,  2, 4, 3, 1,  7, 4, 2, 2,  11, 2 | 8,  2, 4, 2, 1,
                        0, 5, 1, 3, 0,  2, 5, 3, 1,  13, 1, 0,  16,  17,  4, 1, 5, 2, 3, 1, 0,  15, 0x10, 0, 2});
  // A raw entry: a submit with an id outside the pool and an admission cap.
  logpb::Command c;
  c.mutable_submit_job()->set_job_id("7b1c3e0a-0000-4000-8000-000000000001");
  c.mutable_submit_job()->set_command("python3 train.py");
  c.mutable_submit_job()->set_created_at_ns(123'456'789);
  c.mutable_submit_job()->set_max_active(2);
  const std::string raw = c.SerializeAsString();
  bytes b{0, 0, 1, 2, 0, 12, static_cast<std::uint8_t>(raw.size())};
  b.insert(b.end(), raw.begin(), raw.end());
  b.insert(b.end(), {0, 1, 1, 2, 2,  15, 0, 0, 1});
  put("raw_submit", b);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds <corpus dir>\n";
    return 2;
  }
  out_dir = argv[1];
  records();
  snapshots();
  configs();
  rest();
  http_requests();
  raft_runs();
  wire_streams();
  state_files();
  apply_logs();
  return 0;
}
