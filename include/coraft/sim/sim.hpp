// coraft/sim/sim.hpp — the deterministic simulator: a world, its network, its hosts and their disks.
#pragma once

#include "coraft/sim/connections.hpp"
#include "coraft/sim/disk.hpp"
#include "coraft/sim/file_content.hpp"
#include "coraft/sim/host.hpp"
#include "coraft/sim/links.hpp"
#include "coraft/sim/network.hpp"
#include "coraft/sim/operations.hpp"
#include "coraft/sim/random.hpp"
#include "coraft/sim/sockets.hpp"
#include "coraft/sim/trace.hpp"
#include "coraft/sim/world.hpp"
