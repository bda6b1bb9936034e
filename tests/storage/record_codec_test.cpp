#include <doctest/doctest.h>

#include "runtime/storage/byte_order.hpp"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/record_codec.hpp"
#include "runtime/storage/segment_scan.hpp"
#include "runtime/storage/storage_error.hpp"
#include "test_support.hpp"

using namespace troupe;
using namespace troupe::storage;
using troupe::storage::testing::make_entry;

TEST_SUITE("record_codec") {
  TEST_CASE("round trip preserves every field and reports the record size") {
    for (std::size_t size : {0u, 1u, 200u, 5000u}) {
      const raft::entry e = make_entry(42 + size, 7, size);
      std::string buf;
      encode_record(e, buf);
      REQUIRE(buf.size() == encoded_record_bytes(e));
      const decode_result r = decode_record(buf);
      REQUIRE(r.status == record_status::ok);
      CHECK(r.record.to_entry() == e);
      CHECK(r.record.record_bytes == buf.size());
    }
  }

  TEST_CASE("layout is length, CRC over payload, term, index, type, data (little-endian)") {
    const raft::entry e{0x0102030405060708ull, 0x1112131415161718ull, raft::entry_type::noop, "xyz"};
    std::string buf;
    encode_record(e, buf);
    REQUIRE(buf.size() == 8 + 17 + 3);
    CHECK(get_u32(buf.data()) == 20u);
    CHECK(get_u32(buf.data() + 4) == crc32c(buf.data() + 8, 20));
    CHECK(static_cast<unsigned char>(buf[8]) == 0x08);  // term, low byte first
    CHECK(get_u64(buf.data() + 8) == e.term);
    CHECK(get_u64(buf.data() + 16) == e.index);
    CHECK(buf[24] == 1);
    CHECK(buf.substr(25) == "xyz");
  }

  TEST_CASE("every truncation of a record is detected as truncated") {
    std::string buf;
    encode_record(make_entry(3, 1, 30), buf);
    for (std::size_t n = 0; n < buf.size(); ++n) {
      const record_status s = decode_record(std::string_view(buf).substr(0, n)).status;
      CHECK((s == record_status::truncated_header || s == record_status::truncated_payload));
    }
  }

  TEST_CASE("flipped payload or CRC bits are reported as bad_crc, bad lengths as bad_length") {
    std::string buf;
    encode_record(make_entry(3, 1, 30), buf);
    for (std::size_t i = 4; i < buf.size(); ++i) {
      std::string t = buf;
      t[i] = static_cast<char>(t[i] ^ 0x10);
      CHECK(decode_record(t).status == record_status::bad_crc);
    }
    std::string zero_len = buf;
    zero_len[0] = zero_len[1] = zero_len[2] = zero_len[3] = 0;
    CHECK(decode_record(zero_len).status == record_status::bad_length);
  }

  TEST_CASE("a CRC-valid record with an unknown type is bad_type") {
    raft::entry e = make_entry(3, 1, 5);
    std::string buf;
    encode_record(e, buf);
    buf[24] = 9;
    const std::uint32_t crc = crc32c(buf.data() + 8, buf.size() - 8);
    std::string fixed = buf.substr(0, 4);
    put_u32(fixed, crc);
    fixed += buf.substr(8);
    CHECK(decode_record(fixed).status == record_status::bad_type);
  }

  TEST_CASE("scan_segment cuts a torn tail but refuses a bad record followed by a valid one") {
    std::string seg;
    for (raft::index_t i = 5; i <= 9; ++i) encode_record(make_entry(i, 2, 20), seg);
    const std::size_t full = seg.size();
    const std::size_t rec = full / 5;

    const segment_scan torn = scan_segment(std::string_view(seg).substr(0, full - 3), "s", 5, true);
    CHECK(torn.records.size() == 4);
    CHECK(torn.valid_bytes == 4 * rec);
    CHECK(torn.tail_status == record_status::truncated_payload);

    std::string mid = seg;
    mid[2 * rec + 12] ^= 1;  // payload of index 7
    const std::string expected = "corrupt record in s at byte offset " + std::to_string(2 * rec);
    CHECK_THROWS_WITH_AS(scan_segment(mid, "s", 5, true), doctest::Contains(expected.c_str()),
                         storage_error);
    CHECK_THROWS_WITH_AS(scan_segment(std::string_view(seg).substr(0, full - 3), "s", 5, false),
                         doctest::Contains("is not the last segment"), storage_error);
    CHECK_THROWS_WITH_AS(scan_segment(seg, "s", 4, true), doctest::Contains("expected index 4, found 5"),
                         storage_error);
  }
  TEST_CASE("scan_segment refuses a term that decreases, within a segment or from the previous one") {
    std::string seg;
    encode_record(make_entry(5, 2, 20), seg);
    const std::size_t rec = seg.size();
    encode_record(make_entry(6, 3, 20), seg);
    encode_record(make_entry(7, 2, 20), seg);  // below its predecessor's term 3
    CHECK_THROWS_WITH_AS(scan_segment(seg, "s", 5, true),
                         doctest::Contains(("term decreases in s at byte offset " + std::to_string(2 * rec) +
                                            ": index 7 has term 2 after term 3").c_str()),
                         storage_error);
    const std::string ok = seg.substr(0, 2 * rec);
    CHECK(scan_segment(ok, "s", 5, true, 2).records.size() == 2);
    CHECK_THROWS_WITH_AS(scan_segment(ok, "s", 5, true, 4),
                         doctest::Contains("term decreases in s at byte offset 0: index 5 has term 2 after term 4"),
                         storage_error);
  }
}
