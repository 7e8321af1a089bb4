// fcontext.cc - peer benchmark: Boost.Context's low-level fcontext switch.
//
// A ping-pong between the main context and one fcontext, with
// jump_fcontext/make_fcontext from boost/context/detail/fcontext.hpp (the
// assembly that Boost.Context's higher layers are built on). One op is one
// one-way switch. Prints Go benchmark lines so benchstat reads them.
//
//   fcontext [iterations [repeats]]
#include <boost/context/detail/fcontext.hpp>

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace ctx = boost::context::detail;

namespace {

long g_left;  // switches still to make, counted by both sides

// The coroutine side: bounce straight back, forever.
void bounce(ctx::transfer_t t) {
  for (;;) t = ctx::jump_fcontext(t.fctx, nullptr);
}

double now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

}  // namespace

int main(int argc, char **argv) {
  long iters = argc > 1 ? std::atol(argv[1]) : 50000000L;
  int repeats = argc > 2 ? std::atoi(argv[2]) : 1;
  const std::size_t size = 64 * 1024;
  void *stack = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  ctx::fcontext_t other =
      ctx::make_fcontext(static_cast<char *>(stack) + size, size, bounce);
  // Warm up (and start the other side).
  for (int i = 0; i < 100000; i++) other = ctx::jump_fcontext(other, nullptr).fctx;
  for (int r = 0; r < repeats; r++) {
    // Each jump there and back is two one-way switches.
    long rounds = iters / 2;
    double t0 = now_ns();
    for (g_left = rounds; g_left > 0; g_left--) {
      other = ctx::jump_fcontext(other, nullptr).fctx;
    }
    double ns = (now_ns() - t0) / double(rounds * 2);
    std::printf("BenchmarkPeerBoostFcontext \t%ld\t%.3f ns/op\t%.3f ns/switch\n",
                rounds * 2, ns, ns);
    std::fflush(stdout);
  }
  return 0;
}
