// The host SIMT emulator's runtime: launch checks, the thread pool that runs the blocks of a grid,
// the per-block fiber scheduler (barriers, warp-op rendezvous, deadlock detection) and the
// barrier-free flat path. See emulator.h for the API and docs/SIMT_EMULATOR.md for the design.
//
// Scheduling: a block runs on one OS thread, one fiber per CUDA thread. The scheduler makes
// "passes" over the threads in a fixed order (forward, or reverse with Config::reverse); each
// runnable fiber runs until its next sync point (barrier, warp op, __nanosleep) or its exit and
// then switches straight to the next runnable fiber of the pass. A barrier completes when every
// live thread has arrived (exited threads count as arrived) and the pass then restarts from the
// first thread, so the order between sync points is always the fixed one. A warp op completes
// when every non-exited lane named in its mask has arrived. When a pass ends with nothing
// runnable and nothing to complete, the block is deadlocked and the launch throws.
// Depends on: fiber.h, emulator.h, kernels/common/check.h.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

#include "kernels/common/check.h"
#include "kernels/simt/emulator.h"
#include "kernels/simt/fiber.h"

namespace lc::simt {

namespace {

bool parse_flag(const char* name, const char* v) {
  const std::string s(v);
  if (s.empty() || s == "0" || s == "false" || s == "off") return false;
  if (s == "1" || s == "true" || s == "on") return true;
  LC_FAIL("lc::simt: ", name, " must be 0 or 1, got '", s, "'");
}

long parse_positive(const char* name, const char* v) {
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || n <= 0)
    LC_FAIL("lc::simt: ", name, " must be a positive integer, got '", v, "'");
  return n;
}

Config config_from_env() {
  Config c;
  if (const char* v = std::getenv("LC_SIMT_REVERSE")) c.reverse = parse_flag("LC_SIMT_REVERSE", v);
  if (const char* v = std::getenv("LC_SIMT_STRICT")) c.strict = parse_flag("LC_SIMT_STRICT", v);
  if (const char* v = std::getenv("LC_SIMT_STACK_KB"))
    c.stack_bytes = static_cast<std::size_t>(parse_positive("LC_SIMT_STACK_KB", v)) * 1024;
  if (const char* v = std::getenv("LC_SIMT_THREADS"))
    c.threads = static_cast<int>(parse_positive("LC_SIMT_THREADS", v));
  if (const char* v = std::getenv("LC_SIMT_SPIN_TIMEOUT_MS"))
    c.spin_timeout_ms = static_cast<int>(parse_positive("LC_SIMT_SPIN_TIMEOUT_MS", v));
  return c;
}

}  // namespace

Config& config() {
  static Config c = config_from_env();
  return c;
}

namespace detail {

namespace {

constexpr int kDefaultSmemLimit = 48 * 1024;
constexpr int kMaxSmemLimit = 227 * 1024;

// ---- messages ---------------------------------------------------------------------------------
// Errors the emulator raises inside a kernel (traps, deadlocks) carry their full context already.
struct Trap : lc::Error {
  using lc::Error::Error;
};

std::string fmt(const uint3& v) { return lc::detail::concat("(", v.x, ",", v.y, ",", v.z, ")"); }
std::string fmt(const dim3& v) { return lc::detail::concat("(", v.x, ",", v.y, ",", v.z, ")"); }
std::string hex(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}
// "0-3,8,10-11"
std::string lanes(unsigned bits) {
  std::string s;
  for (int l = 0; l < 32;) {
    if (!((bits >> l) & 1u)) {
      ++l;
      continue;
    }
    int e = l;
    while (e + 1 < 32 && ((bits >> (e + 1)) & 1u)) ++e;
    if (!s.empty()) s += ",";
    s += std::to_string(l);
    if (e > l) s += "-" + std::to_string(e);
    l = e + 1;
  }
  return s.empty() ? "none" : s;
}

[[noreturn]] void throw_trap(const std::string& msg) { throw Trap("lc::simt: " + msg); }

const char* barrier_name(int kind) {
  switch (kind) {
    case kBarCount: return "__syncthreads_count";
    case kBarAnd: return "__syncthreads_and";
    case kBarOr: return "__syncthreads_or";
    default: return "__syncthreads";
  }
}
const char* warp_name(int kind) {
  switch (kind) {
    case kShflIdx: return "__shfl_sync";
    case kShflUp: return "__shfl_up_sync";
    case kShflDown: return "__shfl_down_sync";
    case kShflXor: return "__shfl_xor_sync";
    case kBallot: return "__ballot_sync";
    case kAny: return "__any_sync";
    case kAll: return "__all_sync";
    case kSyncwarp: return "__syncwarp";
    case kReduceAdd: return "__reduce_add_sync";
    case kReduceMin: return "__reduce_min_sync";
    case kReduceMax: return "__reduce_max_sync";
    case kReduceAnd: return "__reduce_and_sync";
    case kReduceOr: return "__reduce_or_sync";
    case kReduceXor: return "__reduce_xor_sync";
    case kMatchAny: return "__match_any_sync";
    case kMatchAll: return "__match_all_sync";
    default: return "warp op";
  }
}

// ---- per-thread state ----------------------------------------------------------------------------
enum class State : std::uint8_t { Runnable, AtBarrier, AtWarp, Exited };
enum Mode : int { kModeNone = 0, kModeFlat, kModeFibers };

struct Fiber : Context {
  uint3 tid{0, 0, 0};
  unsigned linear = 0, lane = 0, warp = 0;
  State state = State::Exited;
  bool in_kernel = false;  // between the kernel's start and its return (frames on the stack)
  // The warp op this fiber waits at.
  int wkind = 0;
  unsigned wmask = 0;
  int wb = 0, wwidth = 32;
  const void* win = nullptr;
  void* wout = nullptr;
  unsigned wsize = 0;
  bool wsigned = false;
  unsigned long long wvalue = 0, wresult = 0;
  int wpred = 0;
};

struct Warp {
  unsigned exists = 0;   // lanes of this warp inside the block
  unsigned exited = 0;   // lanes whose thread has returned
  unsigned waiting = 0;  // lanes waiting at a warp op
};

struct Job {
  const LaunchSpec* spec = nullptr;
  Config cfg;
  unsigned nthreads = 0;
  std::uint64_t nblocks = 0;
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::exception_ptr error;

  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lk(mu);
    if (!error) error = std::move(e);
    failed.store(true, std::memory_order_relaxed);
  }
};

struct Block {
  Job* job = nullptr;
  const LaunchSpec* spec = nullptr;
  unsigned n = 0;
  bool strict = false;
  Fiber** fibers = nullptr;   // by linear thread index
  std::vector<Fiber*> order;  // pass order
  unsigned order_n = 0;
  bool order_reverse = false;
  int pos = -1;               // position in the current pass
  bool pass_break = false;    // end the pass now (a barrier was released)
  unsigned n_exited = 0;
  unsigned n_barrier = 0, bar_pred = 0;
  int bar_kind = 0, bar_result = 0;
  Warp warps[32];
  bool failed = false;
  std::uint64_t progress = 0, last_progress = 0, idle_passes = 0;
  std::chrono::steady_clock::time_point idle_since;
  Context sched;  // the OS thread's own context
};

void fiber_main(void* arg);

// Everything an OS thread needs to run blocks; lives as long as the thread.
struct Worker {
  std::vector<Fiber*> fibers;
  std::size_t stack_bytes = 0;
  Block block;

  ~Worker() { drop_fibers(); }
  void drop_fibers() {
    for (Fiber* f : fibers) {
      fiber_destroy(f);
      delete f;
    }
    fibers.clear();
  }
  void ensure_fibers(unsigned n, std::size_t stack) {
    if (stack != stack_bytes) {
      drop_fibers();
      stack_bytes = stack;
    }
    if (fibers.size() >= n) return;
    install_overflow_handler();
    fibers.reserve(n);
    while (fibers.size() < n) {
      auto f = std::make_unique<Fiber>();
      fiber_create(f.get(), stack, &fiber_main, f.get(), static_cast<unsigned>(fibers.size()));
      fibers.push_back(f.release());
    }
  }
};

Worker& this_worker() {
  thread_local Worker w;
  return w;
}

thread_local Block* t_block = nullptr;
thread_local Fiber* t_cur = nullptr;
thread_local int t_mode = kModeNone;

std::string here(const Fiber* f) {
  return lc::detail::concat("thread ", fmt(f->tid), " (warp ", f->warp, ", lane ", f->lane, ") of block ",
                            fmt(t_block_idx));
}

[[noreturn]] void trap_no_fiber(const char* op) {
  if (t_mode == kModeFlat)
    throw_trap(lc::detail::concat("launch_flat: the kernel reached ", op, " in thread ", fmt(t_thread_idx),
                                  " of block ", fmt(t_block_idx),
                                  "; kernels with barriers or warp ops must use lc::simt::launch()"));
  throw_trap(lc::detail::concat(op, " called outside a kernel"));
}

std::exception_ptr wrap_user_exception(std::exception_ptr e, const uint3& tid, const uint3& bid) {
  std::string what;
  try {
    std::rethrow_exception(e);
  } catch (const Trap&) {
    return e;
  } catch (const std::exception& x) {
    what = x.what();
  } catch (...) {
    what = "an exception that is not a std::exception";
  }
  return std::make_exception_ptr(
      Trap(lc::detail::concat("lc::simt: thread ", fmt(tid), " of block ", fmt(bid), " threw: ", what)));
}

// ---- scheduling ---------------------------------------------------------------------------------
inline void resumed(Fiber* f) {
  t_cur = f;
  t_thread_idx = f->tid;
}

// Suspends f and runs the next runnable fiber of the pass, or the scheduler at the pass's end.
inline void yield(Block& B, Fiber* f) {
  Fiber* next = nullptr;
  if (!B.pass_break) {
    const int n = static_cast<int>(B.n);
    while (++B.pos < n) {
      Fiber* c = B.order[static_cast<unsigned>(B.pos)];
      if (c->state == State::Runnable) {
        next = c;
        break;
      }
    }
  }
  context_switch(f, next ? static_cast<Context*>(next) : &B.sched);
  resumed(f);
}

void release_barrier(Block& B) {
  switch (B.bar_kind) {
    case kBarCount: B.bar_result = static_cast<int>(B.bar_pred); break;
    case kBarAnd: B.bar_result = B.bar_pred == B.n_barrier; break;
    case kBarOr: B.bar_result = B.bar_pred > 0; break;
    default: B.bar_result = 0;
  }
  for (unsigned i = 0; i < B.n; ++i)
    if (B.fibers[i]->state == State::AtBarrier) B.fibers[i]->state = State::Runnable;
  B.n_barrier = 0;
  B.bar_pred = 0;
  B.pass_break = true;
  ++B.progress;
}

void fiber_main(void* arg) {
  Fiber* f = static_cast<Fiber*>(arg);
  fiber_started(f);
  for (;;) {
    resumed(f);
    Block& B = *t_block;
    f->in_kernel = true;
    try {
      B.spec->run_thread(B.spec->thunk);
    } catch (...) {
      B.job->fail(wrap_user_exception(std::current_exception(), f->tid, t_block_idx));
      B.failed = true;
      B.pass_break = true;
    }
    f->in_kernel = false;
    f->state = State::Exited;
    ++B.n_exited;
    B.warps[f->warp].exited |= 1u << f->lane;
    ++B.progress;
    yield(B, f);  // resumed again for the next block
  }
}

// PTX shfl.sync: the lane a lane reads, from mode, b and the clamp/segment value CUDA derives
// from width.
unsigned shfl_source(int kind, unsigned lane, int b, int width) {
  const unsigned c = ((32u - static_cast<unsigned>(width)) << 8) | (kind == kShflUp ? 0u : 0x1fu);
  const unsigned segmask = (c >> 8) & 31u;
  const unsigned cval = c & 31u;
  const unsigned bval = static_cast<unsigned>(b) & 31u;
  const int max_lane = static_cast<int>((lane & segmask) | (cval & ~segmask & 31u));
  const int min_lane = static_cast<int>(lane & segmask);
  int j = 0;
  bool ok = false;
  switch (kind) {
    case kShflUp: j = static_cast<int>(lane) - static_cast<int>(bval); ok = j >= max_lane; break;
    case kShflDown: j = static_cast<int>(lane + bval); ok = j <= max_lane; break;
    case kShflXor: j = static_cast<int>(lane ^ bval); ok = j <= max_lane; break;
    default: j = min_lane | static_cast<int>(bval & ~segmask & 31u); ok = j <= max_lane; break;
  }
  return ok ? static_cast<unsigned>(j) : lane;
}

// All lanes in `needed` (the non-exited lanes named in the mask) have arrived: compute the
// results and make them runnable.
void complete_warp_op(Block& B, unsigned warp, unsigned needed) {
  Fiber** L = B.fibers + warp * 32;
  const Fiber* a = L[std::countr_zero(needed)];
  for (unsigned bits = needed; bits; bits &= bits - 1) {
    const Fiber* c = L[std::countr_zero(bits)];
    if (c->wkind != a->wkind || c->wmask != a->wmask || c->wsize != a->wsize)
      throw_trap(lc::detail::concat("mismatched warp ops in warp ", warp, " of block ", fmt(t_block_idx),
                                    ": lane ", a->lane, " is at ", warp_name(a->wkind), "(mask=", hex(a->wmask),
                                    ") but lane ", c->lane, " is at ", warp_name(c->wkind), "(mask=",
                                    hex(c->wmask), ")", c->wsize != a->wsize ? " with another value type" : ""));
  }
  const int kind = a->wkind;
  switch (kind) {
    case kShflIdx:
    case kShflUp:
    case kShflDown:
    case kShflXor:
      for (unsigned bits = needed; bits; bits &= bits - 1) {
        Fiber* c = L[std::countr_zero(bits)];
        unsigned j = shfl_source(kind, c->lane, c->wb, c->wwidth);
        if (j != c->lane && !((needed >> j) & 1u)) {
          if (B.strict) {
            const bool exited = ((a->wmask >> j) & 1u) != 0;
            throw_trap(lc::detail::concat("strict mode: ", warp_name(kind), "(mask=", hex(a->wmask), ") in ",
                                          here(c), " reads lane ", j, exited ? ", which has exited" : ", which is not in the mask",
                                          " (undefined on a GPU)"));
          }
          j = c->lane;  // undefined on a GPU; here: the lane's own value
        }
        std::memcpy(c->wout, L[j]->win, c->wsize);
      }
      break;
    case kMatchAny:
      for (unsigned bits = needed; bits; bits &= bits - 1) {
        Fiber* c = L[std::countr_zero(bits)];
        unsigned same = 0;
        for (unsigned o = needed; o; o &= o - 1)
          if (L[std::countr_zero(o)]->wvalue == c->wvalue) same |= 1u << std::countr_zero(o);
        c->wresult = same;
      }
      break;
    default: {
      unsigned long long acc = 0;
      unsigned ballot = 0;
      bool all_equal = true;
      bool first = true;
      for (unsigned bits = needed; bits; bits &= bits - 1) {
        const Fiber* c = L[std::countr_zero(bits)];
        const unsigned long long v = c->wvalue;
        if (v) ballot |= 1u << c->lane;
        if (v != a->wvalue) all_equal = false;
        const unsigned u = static_cast<unsigned>(v);
        if (first) {
          acc = u;
          first = false;
          continue;
        }
        switch (kind) {
          case kReduceAdd: acc = static_cast<unsigned>(acc + u); break;
          case kReduceMin:
            acc = c->wsigned ? static_cast<unsigned>(std::min(static_cast<int>(acc), static_cast<int>(u)))
                             : std::min(static_cast<unsigned>(acc), u);
            break;
          case kReduceMax:
            acc = c->wsigned ? static_cast<unsigned>(std::max(static_cast<int>(acc), static_cast<int>(u)))
                             : std::max(static_cast<unsigned>(acc), u);
            break;
          case kReduceAnd: acc &= u; break;
          case kReduceOr: acc |= u; break;
          case kReduceXor: acc ^= u; break;
          default: break;
        }
      }
      unsigned long long result = 0;
      int pred = 0;
      switch (kind) {
        case kBallot: result = ballot; break;
        case kAny: result = ballot != 0; break;
        case kAll: result = ballot == needed; break;
        case kMatchAll: result = all_equal ? needed : 0; pred = all_equal; break;
        case kSyncwarp: break;
        default: result = acc;
      }
      for (unsigned bits = needed; bits; bits &= bits - 1) {
        Fiber* c = L[std::countr_zero(bits)];
        c->wresult = result;
        c->wpred = pred;
      }
    }
  }
  for (unsigned bits = needed; bits; bits &= bits - 1) L[std::countr_zero(bits)]->state = State::Runnable;
  B.warps[warp].waiting &= ~needed;
  ++B.progress;
}

void warp_arrive(Block& B, Fiber* f, int kind, unsigned mask) {
  const unsigned bit = 1u << f->lane;
  if (!(mask & bit)) {
    if (B.strict)
      throw_trap(lc::detail::concat("strict mode: ", warp_name(kind), "(mask=", hex(mask), ") in ", here(f),
                                    ": the calling lane is not in the mask"));
    mask |= bit;
  }
  f->wkind = kind;
  f->wmask = mask;
  f->state = State::AtWarp;
  Warp& W = B.warps[f->warp];
  W.waiting |= bit;
  ++B.progress;
  const unsigned needed = mask & W.exists & ~W.exited;
  if ((W.waiting & needed) == needed) complete_warp_op(B, f->warp, needed);
  yield(B, f);
}

// Where a thread is, for deadlock reports.
std::string describe_wait(const Block& B, const Fiber* f) {
  switch (f->state) {
    case State::AtBarrier: return lc::detail::concat("waits at ", barrier_name(B.bar_kind));
    case State::AtWarp: return lc::detail::concat("waits at ", warp_name(f->wkind), "(mask=", hex(f->wmask), ")");
    case State::Exited: return "has exited";
    default: return "is runnable";
  }
}

std::string deadlock_report(const Block& B) {
  std::string msg = lc::detail::concat("deadlock in block ", fmt(t_block_idx), " (", B.n, " threads, ",
                                       B.n - B.n_exited, " not exited):");
  int items = 0;
  const unsigned nwarps = (B.n + 31) / 32;
  for (unsigned wi = 0; wi < nwarps && items < 8; ++wi) {
    const Warp& W = B.warps[wi];
    unsigned pending = W.waiting;
    while (pending && items < 8) {
      const Fiber* a = B.fibers[wi * 32 + static_cast<unsigned>(std::countr_zero(pending))];
      unsigned group = 0;
      for (unsigned bits = pending; bits; bits &= bits - 1) {
        const Fiber* c = B.fibers[wi * 32 + static_cast<unsigned>(std::countr_zero(bits))];
        if (c->wkind == a->wkind && c->wmask == a->wmask) group |= 1u << c->lane;
      }
      pending &= ~group;
      const unsigned needed = a->wmask & W.exists & ~W.exited;
      const unsigned missing = needed & ~W.waiting;
      msg += lc::detail::concat("\n  warp ", wi, " lanes ", lanes(group), " (first: thread ", fmt(a->tid), ") wait at ",
                                warp_name(a->wkind), "(mask=", hex(a->wmask), ")");
      if (missing) {
        const Fiber* m = B.fibers[wi * 32 + static_cast<unsigned>(std::countr_zero(missing))];
        msg += lc::detail::concat(" for lanes ", lanes(missing), "; lane ", m->lane, " (thread ", fmt(m->tid), ") ",
                                  describe_wait(B, m));
      } else {
        msg += " with lanes that wait at another warp op";
      }
      ++items;
    }
  }
  if (B.n_barrier > 0) {
    const Fiber* first = nullptr;
    const Fiber* absent = nullptr;
    for (unsigned i = 0; i < B.n; ++i) {
      const Fiber* c = B.fibers[i];
      if (c->state == State::AtBarrier && !first) first = c;
      if (c->state != State::AtBarrier && c->state != State::Exited && !absent) absent = c;
    }
    msg += lc::detail::concat("\n  ", B.n_barrier, " of ", B.n - B.n_exited, " live threads wait at ",
                              barrier_name(B.bar_kind), " (first: thread ", fmt(first->tid), ")");
    if (absent)
      msg += lc::detail::concat("; thread ", fmt(absent->tid), " (warp ", absent->warp, ", lane ", absent->lane,
                                ") never reaches it: it ", describe_wait(B, absent));
  }
  return msg;
}

// End of a pass: complete what the pass's exits completed, detect deadlocks.
void resolve(Block& B) {
  const unsigned nwarps = (B.n + 31) / 32;
  for (unsigned wi = 0; wi < nwarps; ++wi) {
    Warp& W = B.warps[wi];
    for (unsigned pending = W.waiting; pending; pending &= W.waiting) {
      const unsigned l = static_cast<unsigned>(std::countr_zero(pending));
      pending &= ~(1u << l);
      const unsigned needed = B.fibers[wi * 32 + l]->wmask & W.exists & ~W.exited;
      if ((W.waiting & needed) == needed) complete_warp_op(B, wi, needed);
      if (!pending) break;
    }
  }
  if (B.n_barrier > 0 && B.n_barrier + B.n_exited == B.n) {
    if (B.strict && B.n_exited > 0) {
      const Fiber* f = nullptr;
      for (unsigned i = 0; i < B.n && !f; ++i)
        if (B.fibers[i]->state == State::AtBarrier) f = B.fibers[i];
      throw_trap(lc::detail::concat("strict mode: ", barrier_name(B.bar_kind), " in block ", fmt(t_block_idx),
                                    " (first waiting: thread ", fmt(f->tid), ") completes only because ", B.n_exited,
                                    " threads of the block exited (undefined on a GPU)"));
    }
    release_barrier(B);
  }
  bool runnable = false;
  for (unsigned i = 0; i < B.n && !runnable; ++i) runnable = B.fibers[i]->state == State::Runnable;
  if (!runnable) throw_trap(deadlock_report(B));
  // Livelock: only __nanosleep spinning for spin_timeout_ms.
  if (B.progress != B.last_progress) {
    B.last_progress = B.progress;
    B.idle_passes = 0;
  } else if ((++B.idle_passes & 255) == 0) {
    const auto now = std::chrono::steady_clock::now();
    if (B.idle_passes == 256) {
      B.idle_since = now;
    } else if (now - B.idle_since > std::chrono::milliseconds(B.job->cfg.spin_timeout_ms)) {
      std::string msg = deadlock_report(B);
      const std::string head = "deadlock in block ";
      msg.replace(0, head.size(),
                  lc::detail::concat("no progress for ", B.job->cfg.spin_timeout_ms,
                                     " ms, only __nanosleep spinning (LC_SIMT_SPIN_TIMEOUT_MS) in block "));
      throw_trap(msg);
    }
  }
}

void run_block(Worker& w, Job& job) {
  Block& B = w.block;
  const unsigned n = job.nthreads;
  try {
    w.ensure_fibers(n, job.cfg.stack_bytes);
    B.job = &job;
    B.spec = job.spec;
    B.n = n;
    B.strict = job.cfg.strict;
    B.fibers = w.fibers.data();
    if (B.order_n != n || B.order_reverse != job.cfg.reverse || B.order.size() != n ||
        (n && B.order[0] != w.fibers[job.cfg.reverse ? n - 1 : 0])) {
      B.order.resize(n);
      for (unsigned i = 0; i < n; ++i) B.order[i] = w.fibers[job.cfg.reverse ? n - 1 - i : i];
      B.order_n = n;
      B.order_reverse = job.cfg.reverse;
    }
    B.n_exited = B.n_barrier = B.bar_pred = 0;
    B.failed = false;
    B.progress = 0;
    B.last_progress = ~std::uint64_t{0};
    B.idle_passes = 0;
    const unsigned nwarps = (n + 31) / 32;
    for (unsigned wi = 0; wi < nwarps; ++wi) {
      const unsigned in_block = std::min(32u, n - wi * 32);
      B.warps[wi] = Warp{in_block == 32 ? ~0u : (1u << in_block) - 1u, 0, 0};
    }
    const dim3 bd = job.spec->block;
    for (unsigned i = 0; i < n; ++i) {
      Fiber* f = w.fibers[i];
      f->state = State::Runnable;
      f->tid = uint3{i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y)};
      f->linear = i;
      f->lane = i & 31u;
      f->warp = i >> 5;
    }
    t_block = &B;
    for (;;) {
      B.pass_break = false;
      B.pos = -1;
      Fiber* first = nullptr;
      while (++B.pos < static_cast<int>(n)) {
        Fiber* c = B.order[static_cast<unsigned>(B.pos)];
        if (c->state == State::Runnable) {
          first = c;
          break;
        }
      }
      if (first) context_switch(&B.sched, first);
      t_cur = nullptr;
      if (B.failed || B.n_exited == n) break;
      resolve(B);
    }
  } catch (...) {
    job.fail(std::current_exception());
    B.failed = true;
  }
  t_cur = nullptr;
  if (B.failed) {
    // Abandon the fibers still inside the kernel: they start afresh next time.
    for (unsigned i = 0; i < n && i < w.fibers.size(); ++i) {
      Fiber* f = w.fibers[i];
      if (f->in_kernel) {
        fiber_reset(f);
        f->in_kernel = false;
      }
    }
  }
}

// Runs blocks of the job until none are left (or one failed), on the calling OS thread.
void run_job(Job& job) {
  const LaunchSpec& s = *job.spec;
  void* smem = nullptr;
  if (posix_memalign(&smem, 16, s.smem) != 0) {
    job.fail(std::make_exception_ptr(Trap("lc::simt: cannot allocate the dynamic shared memory")));
    return;
  }
  Worker& w = this_worker();
  t_dyn_smem = static_cast<unsigned char*>(smem);
  t_grid_dim = s.grid;
  t_block_dim = s.block;
  t_mode = s.flat ? kModeFlat : kModeFibers;
  const std::uint64_t gx = s.grid.x, gy = s.grid.y;
  const bool reverse = job.cfg.reverse;
  for (;;) {
    if (job.failed.load(std::memory_order_relaxed)) break;
    const std::uint64_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.nblocks) break;
    const std::uint64_t b = reverse ? job.nblocks - 1 - i : i;
    t_block_idx = uint3{static_cast<unsigned>(b % gx), static_cast<unsigned>((b / gx) % gy),
                        static_cast<unsigned>(b / (gx * gy))};
    if (s.smem) std::memset(smem, 0xFF, s.smem);
    if (s.flat) {
      try {
        s.run_block_flat(s.thunk, reverse);
      } catch (...) {
        job.fail(wrap_user_exception(std::current_exception(), t_thread_idx, t_block_idx));
        break;
      }
    } else {
      run_block(w, job);
    }
  }
  t_mode = kModeNone;
  t_dyn_smem = nullptr;
  std::free(smem);
}

// ---- thread pool ----------------------------------------------------------------------------------
class Pool {
 public:
  Pool() = default;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // Runs the job on `participants` OS threads: the caller and participants - 1 workers.
  void run(Job& job, unsigned participants) {
    std::lock_guard<std::mutex> launch_lock(launch_mu_);
    const unsigned helpers = participants - 1;
    if (helpers > 0) {
      std::unique_lock<std::mutex> lk(mu_);
      while (threads_.size() < helpers) {
        const unsigned idx = static_cast<unsigned>(threads_.size());
        threads_.emplace_back([this, idx] { loop(idx); });
      }
      job_ = &job;
      helpers_ = helpers;
      remaining_ = helpers;
      ++generation_;
      lk.unlock();
      work_cv_.notify_all();
    }
    run_job(job);
    if (helpers > 0) {
      std::unique_lock<std::mutex> lk(mu_);
      done_cv_.wait(lk, [&] { return remaining_ == 0; });
      job_ = nullptr;
    }
  }

 private:
  void loop(unsigned idx) {
    std::uint64_t seen = 0;
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lk(mu_);
        work_cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (idx >= helpers_) continue;
        job = job_;
      }
      run_job(*job);
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (--remaining_ == 0) done_cv_.notify_one();
      }
    }
  }

  std::mutex launch_mu_;  // one launch at a time
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::thread> threads_;
  Job* job_ = nullptr;
  unsigned helpers_ = 0, remaining_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

std::mutex g_pool_mu;
Pool* g_pool = nullptr;

// After fork() the child has none of the pool's threads: it starts a new pool (the old one is
// leaked, its mutexes may be held by threads that do not exist there).
void atfork_prepare() { g_pool_mu.lock(); }
void atfork_parent() { g_pool_mu.unlock(); }
void atfork_child() {
  g_pool = nullptr;
  g_pool_mu.unlock();
}

struct PoolOwner {
  ~PoolOwner() {
    std::lock_guard<std::mutex> lk(g_pool_mu);
    delete g_pool;
    g_pool = nullptr;
  }
} g_pool_owner;

Pool& pool() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(&atfork_prepare, &atfork_parent, &atfork_child); });
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (!g_pool) g_pool = new Pool();
  return *g_pool;
}

std::mutex g_smem_mu;
std::map<const void*, int>& smem_limits() {
  static std::map<const void*, int> m;
  return m;
}

int smem_limit(const void* kernel) {
  std::lock_guard<std::mutex> lk(g_smem_mu);
  const auto it = smem_limits().find(kernel);
  return it == smem_limits().end() ? kDefaultSmemLimit : it->second;
}

void validate(const LaunchSpec& s) {
  const dim3 b = s.block, g = s.grid;
  const std::string what = lc::detail::concat("invalid launch configuration: lc::simt::", s.api, "(grid ", fmt(g),
                                              ", block ", fmt(b), ", smem ", s.smem, " bytes): ");
  if (b.x == 0 || b.y == 0 || b.z == 0) LC_FAIL(what, "a block dimension is 0");
  if (g.x == 0 || g.y == 0 || g.z == 0) LC_FAIL(what, "a grid dimension is 0");
  const std::uint64_t threads = std::uint64_t{b.x} * b.y * b.z;
  if (threads > 1024) LC_FAIL(what, threads, " threads per block; the limit is 1024");
  if (b.z > 64) LC_FAIL(what, "block dimensions are limited to (1024,1024,64)");
  if (g.x > 2147483647u || g.y > 65535u || g.z > 65535u)
    LC_FAIL(what, "grid dimensions are limited to (2147483647,65535,65535)");
  const int limit = smem_limit(s.kernel);
  if (s.smem > static_cast<std::size_t>(limit))
    LC_FAIL(what, "dynamic shared memory exceeds this kernel's limit of ", limit,
            " bytes (48 KiB unless raised with lc::simt::set_max_dynamic_shared, at most 227 KiB)");
}

}  // namespace

void set_max_dynamic_shared(const void* kernel, int bytes) {
  if (bytes < 0 || bytes > kMaxSmemLimit)
    LC_FAIL("lc::simt::set_max_dynamic_shared: ", bytes, " bytes is outside 0..", kMaxSmemLimit,
            " (227 KiB, the sm_90 limit)");
  std::lock_guard<std::mutex> lk(g_smem_mu);
  smem_limits()[kernel] = bytes;
}

void run_launch(const LaunchSpec& s) {
  if (t_mode != kModeNone)
    LC_FAIL("lc::simt::", s.api, " called from inside a kernel (dynamic parallelism is not emulated)");
  validate(s);
  Job job;
  job.spec = &s;
  job.cfg = config();
  job.nthreads = s.block.x * s.block.y * s.block.z;
  job.nblocks = std::uint64_t{s.grid.x} * s.grid.y * s.grid.z;
  unsigned threads = job.cfg.threads > 0 ? static_cast<unsigned>(job.cfg.threads)
                                         : std::max(1u, std::thread::hardware_concurrency());
  const unsigned participants = static_cast<unsigned>(std::min<std::uint64_t>(threads, job.nblocks));
  pool().run(job, participants);
  if (job.error) std::rethrow_exception(job.error);
}

int barrier(int kind, int pred) {
  Fiber* f = t_cur;
  if (!f) trap_no_fiber(barrier_name(kind));
  Block& B = *t_block;
  if (B.strict && B.n_exited > 0)
    throw_trap(lc::detail::concat("strict mode: ", here(f), " reached ", barrier_name(kind), " after ", B.n_exited,
                                  " threads of the block exited (undefined on a GPU)"));
  if (B.n_barrier == 0) {
    B.bar_kind = kind;
  } else if (kind != B.bar_kind) {
    throw_trap(lc::detail::concat(here(f), " reached ", barrier_name(kind), " while other threads wait at ",
                                  barrier_name(B.bar_kind), " (mismatched barriers)"));
  }
  f->state = State::AtBarrier;
  ++B.n_barrier;
  if (pred) ++B.bar_pred;
  ++B.progress;
  if (B.n_barrier + B.n_exited == B.n) release_barrier(B);
  yield(B, f);
  return B.bar_result;
}

void warp_shfl(int kind, unsigned mask, const void* in, void* out, unsigned size, int b, int width) {
  Fiber* f = t_cur;
  if (!f) trap_no_fiber(warp_name(kind));
  Block& B = *t_block;
  if (B.strict && (width < 1 || width > 32 || (width & (width - 1)) != 0))
    throw_trap(lc::detail::concat("strict mode: ", warp_name(kind), " in ", here(f), ": width ", width,
                                  " is not a power of 2 in 1..32"));
  f->win = in;
  f->wout = out;
  f->wsize = size;
  f->wb = b;
  f->wwidth = width;
  warp_arrive(B, f, kind, mask);
}

unsigned long long warp_vote(int kind, unsigned mask, unsigned long long value, bool is_signed, unsigned size,
                             int* pred_out) {
  Fiber* f = t_cur;
  if (!f) trap_no_fiber(warp_name(kind));
  Block& B = *t_block;
  f->wvalue = value;
  f->wsigned = is_signed;
  f->wsize = size;
  warp_arrive(B, f, kind, mask);
  if (pred_out) *pred_out = f->wpred;
  return f->wresult;
}

unsigned active_mask() {
  Fiber* f = t_cur;
  if (!f) trap_no_fiber("__activemask");
  const Warp& W = t_block->warps[f->warp];
  return W.exists & ~W.exited;
}

void nanosleep_yield() {
  Fiber* f = t_cur;
  if (!f) return;  // flat path or host code: nothing to yield to
  yield(*t_block, f);
}

void trap(const char* what) {
  throw_trap(lc::detail::concat(what, " in thread ", fmt(t_thread_idx), " of block ", fmt(t_block_idx)));
}

}  // namespace detail
}  // namespace lc::simt
