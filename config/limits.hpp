// Byte limits derived from the configuration, in one place (issue 11). The
// sender side (raft_node's proposals, job_supervisor's status batches,
// peer_transport's calls) stays within them, and the receiver side
// (transport/peer_validation) refuses anything larger: an honest node never
// produces what its peers would refuse.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "config/node_config.hpp"

namespace troupe::config {

// The most jobs a node runs at once ([worker] capacity) or keeps waiting for
// a slot ([worker] prefetch): what config validation allows and what a
// peer's heartbeat may claim.
inline constexpr std::uint32_t max_worker_slots = 1024;

// Protobuf framing around data: keys, lengths and the small fields of a
// Raft message or a log command (generous; the data dominates).
inline constexpr std::uint64_t framing_bytes = 64 << 10;

// Bytes of a worker's status batch (one log entry), updates packed until
// this much; one update always goes, and one holds at most the inline stdout
// and stderr plus a short error.
inline std::uint64_t status_batch_bytes(const node_config& c) { return c.raft.max_append_bytes; }

// Updates in one status batch, whatever their bytes: the job table applies an
// entry in one message and every submit behind it waits. A node restarted
// with 13,000 jobs to report failed packed ~8,700 of them into 1 MiB, which
// held the submits behind it 60-115 ms at a million jobs; 1,000 keep that
// near 25 ms, like the re-queue's entries (below). docs/BENCHMARKS.md,
// twenty-fourth round.
inline constexpr std::size_t status_batch_updates = 1000;

// Bytes of the dispatcher's assign_jobs and requeue_jobs entries: items
// packed until this much (~60 bytes an assignment, ~100 a re-queue), the rest
// go in the next entry.
inline std::uint64_t assign_batch_bytes(const node_config& c) { return c.raft.max_append_bytes / 2; }

// Re-queues in one requeue_jobs entry, whatever their bytes. The job table
// applies an entry in one message, and every submit behind it waits: at a
// million jobs a re-queue costs it ~13 us (index updates), and entries of
// 5,600 (the byte limit) held each submit 230 ms (bench/scale.sh). 1,000
// keep that near 15 ms, and a worker that held 46,000 jobs still costs 46
// entries, not 46,000.
inline constexpr std::size_t requeue_batch_jobs = 1000;

// The largest entry data (a serialized logpb::Command) a leader proposes and
// a follower accepts: a client command (max_command_bytes), or a status batch.
inline std::uint64_t max_entry_bytes(const node_config& c) {
  const std::uint64_t one_update = 2 * c.executor.output_inline_bytes + framing_bytes;
  return std::max({status_batch_bytes(c), one_update, std::uint64_t{c.jobs.max_command_bytes}}) + framing_bytes;
}

// The largest RaftBatch one peer RPC carries: peer_transport packs messages
// up to max_append_bytes per call and always sends at least one; one message
// holds max_append_bytes of entries, one entry of max_entry_bytes, or one
// snapshot chunk.
inline std::uint64_t peer_call_bytes(const node_config& c) { return c.raft.max_append_bytes; }
inline std::uint64_t max_peer_message_bytes(const node_config& c) {
  return std::max({peer_call_bytes(c), max_entry_bytes(c), std::uint64_t{c.raft.snapshot_chunk_bytes}}) +
         2 * framing_bytes;
}

// Between two snapshots a node applies at least as many entry bytes as the
// last snapshot held, but never more than this (raft_node's maybe_snapshot):
// it bounds the log a restart replays once the table is large (1M jobs make a
// snapshot of ~140 MiB).
inline constexpr std::uint64_t max_log_bytes_between_snapshots = 64ull << 20;

// A snapshot goes from job_table to its file a piece at a time (one message
// to each actor per piece): this many jobs, or this many bytes once large
// commands make jobs big, whichever comes first. A piece takes a few ms to
// encode and to write (10,000 jobs are ~2.3 MiB of a typical table), so an
// apply or a log append waits for one piece, never for the whole snapshot,
// and no more than a piece or two is in memory at a time.
inline constexpr std::size_t snapshot_piece_jobs = 10000;
inline constexpr std::size_t snapshot_piece_bytes = 4u << 20;

}  // namespace troupe::config
