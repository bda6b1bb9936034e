#include <doctest/doctest.h>

#include "runtime/jobs/job.hpp"
#include "scheduler.pb.h"

using namespace troupe::jobs;

TEST_CASE("job_status numbers equal the proto's") {
  CHECK(static_cast<int>(job_status::unspecified) == scheduler::JOB_STATUS_UNSPECIFIED);
  CHECK(static_cast<int>(job_status::pending) == scheduler::JOB_STATUS_PENDING);
  CHECK(static_cast<int>(job_status::running) == scheduler::JOB_STATUS_RUNNING);
  CHECK(static_cast<int>(job_status::completed) == scheduler::JOB_STATUS_COMPLETED);
  CHECK(static_cast<int>(job_status::failed) == scheduler::JOB_STATUS_FAILED);
  CHECK(static_cast<int>(job_status::cancelled) == scheduler::JOB_STATUS_CANCELLED);
  CHECK(static_cast<int>(job_status::assigned) == scheduler::JOB_STATUS_ASSIGNED);
}

TEST_CASE("to_string names every status") {
  CHECK(std::string(to_string(job_status::pending)) == "pending");
  CHECK(std::string(to_string(job_status::running)) == "running");
  CHECK(std::string(to_string(job_status::completed)) == "completed");
  CHECK(std::string(to_string(job_status::failed)) == "failed");
  CHECK(std::string(to_string(job_status::cancelled)) == "cancelled");
  CHECK(std::string(to_string(job_status::assigned)) == "assigned");
  CHECK(std::string(to_string(job_status::unspecified)) == "unspecified");
  CHECK(std::string(to_string(static_cast<job_status>(42))) == "unspecified");
}

TEST_CASE("parse_status accepts short and proto names in any case") {
  CHECK(parse_status("pending") == job_status::pending);
  CHECK(parse_status("RUNNING") == job_status::running);
  CHECK(parse_status("Completed") == job_status::completed);
  CHECK(parse_status("JOB_STATUS_FAILED") == job_status::failed);
  CHECK(parse_status("job_status_cancelled") == job_status::cancelled);
  CHECK(parse_status("JOB_STATUS_ASSIGNED") == job_status::assigned);
  CHECK(parse_status("JOB_STATUS_UNSPECIFIED") == job_status::unspecified);
  // Every to_string name parses back to its status.
  for (int v = 0; v < job_status_count; ++v) {
    auto s = static_cast<job_status>(v);
    CHECK(parse_status(to_string(s)) == s);
  }
}

TEST_CASE("parse_status rejects anything else") {
  CHECK_FALSE(parse_status("").has_value());
  CHECK_FALSE(parse_status("JOB_STATUS_").has_value());
  CHECK_FALSE(parse_status("done").has_value());
  CHECK_FALSE(parse_status("pending ").has_value());
  CHECK_FALSE(parse_status("JOB_STATUS_JOB_STATUS_PENDING").has_value());
  CHECK_FALSE(parse_status("1").has_value());
}

TEST_CASE("is_terminal is true exactly for completed, failed and cancelled") {
  CHECK(is_terminal(job_status::completed));
  CHECK(is_terminal(job_status::failed));
  CHECK(is_terminal(job_status::cancelled));
  CHECK_FALSE(is_terminal(job_status::pending));
  CHECK_FALSE(is_terminal(job_status::assigned));
  CHECK_FALSE(is_terminal(job_status::running));
  CHECK_FALSE(is_terminal(job_status::unspecified));
}
