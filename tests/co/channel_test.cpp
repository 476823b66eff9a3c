#include <doctest/doctest.h>

#include <coraft/co/channel.hpp>
#include <coraft/co/scope.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace coraft::co;

namespace {

// Sends `from..to-1`, counting each accepted send in `*sent`; stores the first error.
task<void> producer(channel<int>* ch, int from, int to, int* sent, std::error_code* error) {
  for (int i = from; i < to; ++i) {
    auto r = co_await ch->send(i);
    if (!r) {
      *error = r.error();
      co_return;
    }
    ++*sent;
  }
}

// Receives until the channel reports an error, which it stores.
task<void> consumer(channel<int>* ch, std::vector<int>* got, std::error_code* error) {
  for (;;) {
    auto r = co_await ch->recv();
    if (!r) {
      *error = r.error();
      co_return;
    }
    got->push_back(*r);
  }
}

}  // namespace

TEST_CASE("channel: delivers in order and applies back-pressure when full") {
  manual_scheduler sched;
  channel<int> ch(2);
  int sent = 0;
  std::error_code send_error;
  scope s(sched);
  s.spawn(producer(&ch, 0, 5, &sent, &send_error));
  CHECK(sent == 2);  // the third send waits: the buffer holds two
  CHECK(ch.size() == 2);
  sched.run_ready();
  CHECK(sent == 2);
  CHECK(*ch.try_recv() == 0);  // room for one: the blocked sender is moved in and scheduled
  CHECK(ch.size() == 2);
  sched.run_ready();
  CHECK(sent == 3);
  std::vector<int> got;
  std::error_code recv_error;
  s.spawn(consumer(&ch, &got, &recv_error));
  while (sched.has_ready()) sched.run_ready();
  CHECK(sent == 5);
  CHECK(got == std::vector<int>{1, 2, 3, 4});
  ch.close();
  s.run_until_idle();
  CHECK(recv_error == errc::closed);
  CHECK_FALSE(send_error);
}

TEST_CASE("channel: a waiting receiver gets the item handed over directly") {
  manual_scheduler sched;
  channel<std::unique_ptr<std::string>> ch(1);
  std::string got;
  scope s(sched);
  s.spawn([](channel<std::unique_ptr<std::string>>* c, std::string* out) -> task<void> {
    auto r = co_await c->recv();
    *out = **r;
  }(&ch, &got));
  auto item = std::make_unique<std::string>("entry");
  CHECK(ch.try_send(item));
  CHECK(ch.size() == 0);  // never buffered
  s.run_until_idle();
  CHECK(got == "entry");
}

TEST_CASE("channel: close drains buffered items, then reports closed; sends are refused") {
  manual_scheduler sched;
  channel<int> ch(4);
  int v = 1;
  CHECK(ch.try_send(v));
  v = 2;
  CHECK(ch.try_send(v));
  ch.close();
  v = 3;
  CHECK_FALSE(ch.try_send(v));
  std::vector<int> got;
  std::error_code recv_error;
  int sent = 0;
  std::error_code send_error;
  scope s(sched);
  s.spawn(consumer(&ch, &got, &recv_error));
  s.spawn(producer(&ch, 9, 10, &sent, &send_error));
  s.run_until_idle();
  CHECK(got == std::vector<int>{1, 2});
  CHECK(recv_error == errc::closed);
  CHECK(sent == 0);
  CHECK(send_error == errc::closed);
}

TEST_CASE("channel: close wakes blocked senders and receivers") {
  manual_scheduler sched;
  channel<int> full(1), empty(1);
  int v = 0;
  CHECK(full.try_send(v));
  int sent = 0;
  std::error_code send_error, recv_error;
  std::vector<int> got;
  scope s(sched);
  s.spawn(producer(&full, 1, 2, &sent, &send_error));
  s.spawn(consumer(&empty, &got, &recv_error));
  sched.run_ready();
  full.close();
  empty.close();
  s.run_until_idle();
  CHECK(send_error == errc::closed);
  CHECK(recv_error == errc::closed);
  CHECK(full.size() == 1);  // the refused item never entered
}

TEST_CASE("channel: a cancelled send leaves nothing behind; a cancelled recv takes nothing") {
  manual_scheduler sched;
  channel<int> ch(1);
  int v = 7;
  CHECK(ch.try_send(v));
  int sent = 0;
  std::error_code send_error;
  scope senders(sched);
  senders.spawn(producer(&ch, 100, 101, &sent, &send_error));
  senders.request_stop();
  senders.run_until_idle();
  CHECK(is_cancelled(send_error));
  CHECK(ch.size() == 1);
  CHECK(*ch.try_recv() == 7);
  CHECK_FALSE(ch.try_recv());

  std::vector<int> got;
  std::error_code recv_error;
  scope receivers(sched);
  receivers.spawn(consumer(&ch, &got, &recv_error));
  receivers.request_stop();
  receivers.run_until_idle();
  CHECK(is_cancelled(recv_error));
  v = 8;
  CHECK(ch.try_send(v));  // buffered for the next receiver, not lost to the cancelled one
  CHECK(ch.size() == 1);
}

TEST_CASE("channel: a handed-over item is not lost when cancellation follows the wake-up") {
  manual_scheduler sched;
  channel<int> ch(1);
  std::vector<int> got;
  std::error_code recv_error;
  scope s(sched);
  s.spawn([](channel<int>* c, std::vector<int>* out, std::error_code* err) -> task<void> {
    auto r = co_await c->recv();
    if (r) out->push_back(*r);
    else *err = r.error();
  }(&ch, &got, &recv_error));
  int v = 5;
  CHECK(ch.try_send(v));
  s.request_stop();
  s.run_until_idle();
  CHECK(got == std::vector<int>{5});
  CHECK_FALSE(recv_error);
}

TEST_CASE("channel: capacity zero is rejected") {
  CHECK_THROWS_AS(channel<int>(0), std::invalid_argument);
}
