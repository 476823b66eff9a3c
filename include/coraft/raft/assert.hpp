// coraft/raft/assert.hpp — invariants as running code.
//
// CORAFT_ASSERT(condition, "what must hold") states an invariant where the state it constrains
// changes. It is checked in debug builds (NDEBUG not defined) and wherever CORAFT_CHECK_INVARIANTS
// is defined (every test build defines it); a broken invariant is a bug, so it throws
// std::logic_error, which fails the simulated step or the test that broke it. Elsewhere the
// condition is not evaluated. Checks that must hold in every build (two leaders in one term, a
// committed entry cut) throw unconditionally instead.
#pragma once

#include <stdexcept>
#include <string>

namespace coraft::detail {

[[noreturn]] inline void invariant_broken(const char* what, const char* file, int line) {
  throw std::logic_error(std::string("coraft: invariant broken: ") + what + " (" + file + ":" +
                         std::to_string(line) + ")");
}

}  // namespace coraft::detail

#if !defined(NDEBUG) || defined(CORAFT_CHECK_INVARIANTS)
#define CORAFT_INVARIANTS_CHECKED 1
#define CORAFT_ASSERT(condition, what) \
  ((condition) ? void() : ::coraft::detail::invariant_broken(what, __FILE__, __LINE__))
#else
#define CORAFT_INVARIANTS_CHECKED 0
#define CORAFT_ASSERT(condition, what) ((void)sizeof((condition) ? 1 : 0))
#endif
