// coraft/sim/random.hpp — the simulator's only source of chance.
//
// Every random choice of the simulated world (drops, delays, reordering, disk faults) comes from
// one sim::seeded_random seeded by the world's seed, forked per component. It is the generator of
// io/random.hpp (xoshiro256** seeded by splitmix64), the same that draws the node's election
// timeouts, so that one specification of chance serves the whole library.
#pragma once

#include "coraft/io/random.hpp"

namespace coraft::sim {

using seeded_random = io::seeded_random;

}  // namespace coraft::sim
