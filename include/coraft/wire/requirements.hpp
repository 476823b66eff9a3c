// coraft/wire/requirements.hpp — the Boost that coraft's encoding needs: 1.77 or later, for
// Boost.Describe. Debian 12's default Boost is 1.74; its libboost1.81-dev is recent enough.
#pragma once

#include "coraft/requirements.hpp"

#include <boost/version.hpp>

#if BOOST_VERSION < 107700
#error "coraft needs Boost 1.77 or later (for Boost.Describe); on Debian 12, libboost1.81-dev"
#endif
