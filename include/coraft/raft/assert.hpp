// coraft/raft/assert.hpp — invariants checked in code.
//
// CORAFT_ASSERT(condition, "message") throws std::logic_error when the condition is false: a broken
// invariant is a bug, never an error for a caller to handle. The checks are on unless NDEBUG is
// defined; CORAFT_CHECK_INVARIANTS turns them on in any build (every test build defines it). When
// off, the condition is not evaluated.
#pragma once

#include <stdexcept>
#include <string>

#if !defined(NDEBUG) || defined(CORAFT_CHECK_INVARIANTS)
#define CORAFT_ASSERT(condition, message)                                                       \
  do {                                                                                          \
    if (!(condition))                                                                           \
      throw std::logic_error(std::string("coraft: invariant broken: ") + (message) + " (" +    \
                             __FILE__ + ":" + std::to_string(__LINE__) + ")");                \
  } while (false)
#else
#define CORAFT_ASSERT(condition, message) \
  do {                                    \
  } while (false)
#endif
