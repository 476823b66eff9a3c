// coraft/wire/wire.hpp — the whole wire layer: checksums, the message codec and framing.
#pragma once

#include "coraft/wire/codec.hpp"
#include "coraft/wire/crc32c.hpp"
#include "coraft/wire/decode.hpp"
#include "coraft/wire/encode.hpp"
#include "coraft/wire/errors.hpp"
#include "coraft/wire/frame.hpp"
#include "coraft/wire/protocol.hpp"
#include "coraft/wire/reader.hpp"
#include "coraft/wire/size.hpp"
#include "coraft/wire/traits.hpp"
#include "coraft/wire/varint.hpp"
#include "coraft/wire/writer.hpp"
