// coraft/co/co.hpp — the coroutine vocabulary, free of I/O.
#pragma once

#include "coraft/co/channel.hpp"
#include "coraft/co/context.hpp"
#include "coraft/co/deadline.hpp"
#include "coraft/co/event.hpp"
#include "coraft/co/result.hpp"
#include "coraft/co/scheduler.hpp"
#include "coraft/co/scope.hpp"
#include "coraft/co/task.hpp"
#include "coraft/co/when_all.hpp"
#include "coraft/co/when_any.hpp"
