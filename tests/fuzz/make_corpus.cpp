// tests/fuzz/make_corpus.cpp — writes the fuzzer's seed corpus: every sample Raft message as a whole
// frame (frame_N.bin) and as a type byte followed by its payload (payload_N.bin), the two shapes of
// input frame_fuzzer.cpp understands. Usage: make_corpus <directory>
#include <coraft/raft/messages.hpp>
#include <coraft/wire/frame.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "../wire/raft_protocol.hpp"

namespace {

void write_file(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <directory>\n", argv[0]);
    return 2;
  }
  using coraft::test::raft_protocol;
  const std::string directory = argv[1];
  const auto messages = coraft::test::sample_raft_messages();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    std::vector<std::byte> frame;
    if (!coraft::wire::encode_frame<raft_protocol>(messages[i], frame)) return 1;
    write_file(directory + "/frame_" + std::to_string(i) + ".bin", frame);

    std::vector<std::byte> typed_payload{static_cast<std::byte>(messages[i].index())};
    std::visit([&](const auto& m) { coraft::wire::encode(m, typed_payload); }, messages[i]);
    write_file(directory + "/payload_" + std::to_string(i) + ".bin", typed_payload);
  }
  return 0;
}
