#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/exec/docker_stream.hpp"

using namespace troupe::exec;

namespace {

std::string frame(int stream, const std::string& payload) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  auto n = static_cast<std::uint32_t>(payload.size());
  f[4] = static_cast<char>(n >> 24);
  f[5] = static_cast<char>(n >> 16);
  f[6] = static_cast<char>(n >> 8);
  f[7] = static_cast<char>(n);
  return f + payload;
}

}  // namespace

TEST_CASE("demux: interleaved frames keep each stream in its own order") {
  std::string raw = frame(1, "out1 ") + frame(2, "err1 ") + frame(1, "out2 ") + frame(2, "err2") + frame(1, "out3");
  auto [out, err] = demux_docker_stream(raw);
  CHECK(out == "out1 out2 out3");
  CHECK(err == "err1 err2");
}

TEST_CASE("demux: empty input and empty frames") {
  auto [out, err] = demux_docker_stream("");
  CHECK(out.empty());
  CHECK(err.empty());
  auto [out2, err2] = demux_docker_stream(frame(1, "") + frame(2, "x") + frame(1, ""));
  CHECK(out2.empty());
  CHECK(err2 == "x");
}

TEST_CASE("demux: payload length is big-endian and may exceed 255 and 65535") {
  std::string big(70000, 'a');
  big[0] = 'S';
  big.back() = 'E';
  auto [out, err] = demux_docker_stream(frame(2, big) + frame(1, "tail"));
  CHECK(err == big);
  CHECK(out == "tail");
}

TEST_CASE("demux: binary payload bytes, including zero bytes and header-like bytes, pass through") {
  std::string payload("\x00\x01\x02\x00\x00\x00\x00\x05zz", 10);
  auto [out, err] = demux_docker_stream(frame(1, payload));
  CHECK(out == payload);
  CHECK(err.empty());
}

TEST_CASE("demux: frames split at every possible byte boundary give the same result") {
  std::string raw = frame(1, "hello ") + frame(2, "warn") + frame(1, "world") + frame(2, "!");
  for (std::size_t cut1 = 0; cut1 <= raw.size(); ++cut1) {
    for (std::size_t cut2 = cut1; cut2 <= raw.size(); cut2 += 3) {
      std::string out, err;
      docker_stream_demuxer d([&](docker_stream_id id, std::string_view data) {
        (id == docker_stream_id::stderr_ ? err : out).append(data);
      });
      REQUIRE(d.feed(std::string_view(raw).substr(0, cut1)));
      REQUIRE(d.feed(std::string_view(raw).substr(cut1, cut2 - cut1)));
      REQUIRE(d.feed(std::string_view(raw).substr(cut2)));
      CHECK(out == "hello world");
      CHECK(err == "warn!");
      CHECK_FALSE(d.mid_frame());
    }
  }
}

TEST_CASE("demux: a partial final frame delivers its bytes so far and reports mid_frame") {
  std::string raw = frame(1, "complete") + frame(2, "partial-payload");
  raw.resize(raw.size() - 8);  // cut inside the second payload
  std::string out, err;
  docker_stream_demuxer d([&](docker_stream_id id, std::string_view data) {
    (id == docker_stream_id::stderr_ ? err : out).append(data);
  });
  CHECK(d.feed(raw));
  CHECK(out == "complete");
  CHECK(err == "partial");
  CHECK(d.mid_frame());

  // A cut inside a header delivers nothing of that frame.
  std::string raw2 = frame(1, "a") + frame(2, "b").substr(0, 5);
  auto [out2, err2] = demux_docker_stream(raw2);
  CHECK(out2 == "a");
  CHECK(err2.empty());
}

TEST_CASE("demux: stdin frames are dropped by demux_docker_stream") {
  auto [out, err] = demux_docker_stream(frame(0, "in") + frame(1, "out"));
  CHECK(out == "out");
  CHECK(err.empty());
}

TEST_CASE("demux: a non-multiplexed (TTY) stream is rejected with a precise error") {
  std::string tty = "plain text output\n";
  CHECK_THROWS_WITH_AS(demux_docker_stream(tty), doctest::Contains("malformed docker stream frame header"),
                       std::runtime_error);
  docker_stream_demuxer d([](docker_stream_id, std::string_view) {});
  CHECK_FALSE(d.feed(tty));
  CHECK(d.error().find("stream byte 112") != std::string::npos);  // 'p'
}
