// Everything the job_executor needs from the execution layer.
#pragma once

#include "runtime/exec/backend.hpp"
#include "runtime/exec/cancel_token.hpp"
#include "runtime/exec/docker_backend.hpp"
#include "runtime/exec/docker_client.hpp"
#include "runtime/exec/docker_stream.hpp"
#include "runtime/exec/job.hpp"
#include "runtime/exec/output_store.hpp"
#include "runtime/exec/process_backend.hpp"
