// coraft/requirements.hpp — the language a program that includes coraft is compiled in: C++20 or
// a later standard. Checked here, at compile time, because neither the pkg-config file nor the
// CMake package chooses the consumer's standard (each keeps the one its build asks for).
#pragma once

#if __cplusplus < 202002L
#error "coraft needs C++20 or later: compile with -std=c++20 or a later standard"
#endif
