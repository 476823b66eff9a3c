// coraft/coraft.hpp — everything coraft offers, layer by layer.
#pragma once

#include "coraft/co/co.hpp"
#include "coraft/io/io.hpp"
#include "coraft/raft/raft.hpp"
#include "coraft/sim/sim.hpp"
#include "coraft/wire/wire.hpp"
