// fcontext.cc - peer benchmark: Boost.Context's low-level fcontext switch.
//
// Ping-pongs between the main context and an fcontext, with
// jump_fcontext/make_fcontext from boost/context/detail/fcontext.hpp (the
// assembly that Boost.Context's higher layers are built on). One op is one
// one-way switch. Prints Go benchmark lines so benchstat reads them:
//
//   BenchmarkPeerBoostFcontext         jump_fcontext straight from the loops
//   BenchmarkPeerBoostFcontextNoinline each side jumps from an ordinary
//                                      non-inlined function that returns, as
//                                      BenchmarkSwitch does (like for like)
//
//   fcontext [iterations [repeats]]
#include <boost/context/detail/fcontext.hpp>

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace ctx = boost::context::detail;

namespace {

// The coroutine side: bounce straight back, forever.
void bounce(ctx::transfer_t t) {
  for (;;) t = ctx::jump_fcontext(t.fctx, nullptr);
}

// The same switch behind a call frame, as real code would make it.
__attribute__((noinline)) ctx::fcontext_t hop(ctx::fcontext_t to) {
  return ctx::jump_fcontext(to, nullptr).fctx;
}

void bounce_noinline(ctx::transfer_t t) {
  ctx::fcontext_t back = t.fctx;
  for (;;) back = hop(back);
}

void *new_stack(std::size_t size) {
  void *stack = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  return static_cast<char *>(stack) + size;
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
  ctx::fcontext_t direct = ctx::make_fcontext(new_stack(size), size, bounce);
  ctx::fcontext_t called =
      ctx::make_fcontext(new_stack(size), size, bounce_noinline);
  // Warm up (and start the other sides).
  for (int i = 0; i < 100000; i++) {
    direct = ctx::jump_fcontext(direct, nullptr).fctx;
    called = hop(called);
  }
  // Each jump there and back is two one-way switches.
  long rounds = iters / 2;
  for (int r = 0; r < repeats; r++) {
    double t0 = now_ns();
    for (long i = 0; i < rounds; i++) {
      direct = ctx::jump_fcontext(direct, nullptr).fctx;
    }
    double ns = (now_ns() - t0) / double(rounds * 2);
    std::printf("BenchmarkPeerBoostFcontext \t%ld\t%.3f ns/op\t%.3f ns/switch\n",
                rounds * 2, ns, ns);
    t0 = now_ns();
    for (long i = 0; i < rounds; i++) called = hop(called);
    ns = (now_ns() - t0) / double(rounds * 2);
    std::printf(
        "BenchmarkPeerBoostFcontextNoinline \t%ld\t%.3f ns/op\t%.3f ns/switch\n",
        rounds * 2, ns, ns);
    std::fflush(stdout);
  }
  return 0;
}
