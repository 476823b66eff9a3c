// coraft/io/io.hpp — the executor contract, the io_uring executor and the generic stream helpers.
#pragma once

#include "coraft/io/backoff.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/endpoint.hpp"
#include "coraft/io/errors.hpp"
#include "coraft/io/fd.hpp"
#include "coraft/io/file_system.hpp"
#include "coraft/io/listen.hpp"
#include "coraft/io/random.hpp"
#include "coraft/io/stream_ops.hpp"
#include "coraft/io/uring_executor.hpp"
