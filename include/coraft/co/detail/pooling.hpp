// coraft/co/detail/pooling.hpp — whether memory is recycled (frame_pool.hpp, shared_bytes' arena).
//
// Recycled memory hides a use after free, or a read past a buffer into its neighbour, from
// AddressSanitizer: under it, or with CORAFT_NO_POOLING defined, every frame and every buffer is an
// allocation of its own.
#pragma once

#if defined(CORAFT_NO_POOLING) || defined(__SANITIZE_ADDRESS__)
#define CORAFT_POOLING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORAFT_POOLING 0
#endif
#endif
#ifndef CORAFT_POOLING
#define CORAFT_POOLING 1
#endif
