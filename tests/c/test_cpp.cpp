// test_cpp.cpp: the header from C++17 (after a MAPI header, with RAII owners and lambdas as
// callbacks), and 8 std::threads racing the release of one store through COM-style smart
// pointers.
#include "fake_mapidefs.h"

#include <mapi_logoff.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

static int failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            failures++;                                                               \
        }                                                                             \
    } while (0)

namespace {

struct SpoolerFree {
    void operator()(mapi_logoff_spooler *p) const { mapi_logoff_spooler_free(p); }
};
struct OptionsFree {
    void operator()(mapi_logoff_spooler_options *p) const { mapi_logoff_spooler_options_free(p); }
};
using Spooler = std::unique_ptr<mapi_logoff_spooler, SpoolerFree>;
using Options = std::unique_ptr<mapi_logoff_spooler_options, OptionsFree>;

// What a C++ provider holds: a COM-style reference (AddRef on copy, Release on destruction).
class StoreRef {
  public:
    explicit StoreRef(mapi_logoff_store *adopted = nullptr) : p_(adopted) {}
    StoreRef(const StoreRef &o) : p_(o.p_) { mapi_logoff_store_add_ref(p_); }
    StoreRef(StoreRef &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    StoreRef &operator=(StoreRef o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~StoreRef() { mapi_logoff_store_release(p_); }  // NULL is fine: returns 0
    mapi_logoff_store *get() const { return p_; }
    // Release now; whether this was the final one.
    bool reset() { return mapi_logoff_store_release(std::exchange(p_, nullptr)) == 0; }

  private:
    mapi_logoff_store *p_;
};

Spooler new_spooler() {
    mapi_logoff_spooler_options *raw = nullptr;
    CHECK(mapi_logoff_spooler_options_new(&raw) == S_OK);
    Options options(raw);
    CHECK(mapi_logoff_spooler_options_set_cross_process(options.get(), false) == S_OK);
    mapi_logoff_spooler *sp = nullptr;
    CHECK(mapi_logoff_spooler_new_with_options("cpp-test", options.get(), &sp) == S_OK);
    return Spooler(sp);
}

void decide_with_mapi_spellings() {
    mapi_logoff_decision d{};
    CHECK(mapi_logoff_decide(LOGOFF_ORDERLY, LOGOFF_INBOUND, 0, &d) == S_OK);
    CHECK(d.out_flags == (LOGOFF_COMPLETE | LOGOFF_INBOUND));
    CHECK(d.release == MAPI_LOGOFF_RELEASE_WHEN_DRAINED);
    CHECK(mapi_logoff_decide(LOGOFF_ORDERLY, 0, 0x8, &d) == MAPI_E_UNKNOWN_FLAGS);
    CHECK(mapi_logoff_decide(0, 0, MAPI_LOGOFF_DECIDE_STRICT, &d) == MAPI_E_INVALID_PARAMETER);
    CHECK(mapi_logoff_decide(LOGOFF_ABORT, LOGOFF_INBOUND, MAPI_LOGOFF_DECIDE_CANCELLABLE, &d) == S_OK);
    CHECK(d.release == MAPI_LOGOFF_RELEASE_NOW);
    CHECK(mapi_logoff_decide(LOGOFF_ORDERLY, 0, 0, nullptr) == MAPI_E_INVALID_PARAMETER);
    CHECK(std::string(mapi_logoff_version()) ==
          std::to_string(MAPI_LOGOFF_VERSION_MAJOR) + "." + std::to_string(MAPI_LOGOFF_VERSION_MINOR) +
              "." + std::to_string(MAPI_LOGOFF_VERSION_PATCH));
}

void lambdas_as_callbacks() {
    Spooler sp = new_spooler();
    struct Seen {
        mapi_logoff_spooler *sp;
        std::vector<std::string> kinds;
        int flushes = 0;
    } seen{sp.get(), {}, 0};
    CHECK(mapi_logoff_spooler_subscribe(
              sp.get(),
              [](void *ctx, const mapi_logoff_event *e) {
                  static_cast<Seen *>(ctx)->kinds.push_back(mapi_logoff_event_kind_name(e->kind));
              },
              &seen, nullptr, nullptr) == S_OK);
    CHECK(mapi_logoff_spooler_add_transport(
              sp.get(),
              [](void *ctx, const char *id, uint32_t flags) -> int32_t {
                  auto *s = static_cast<Seen *>(ctx);
                  s->flushes++;
                  // Re-enter: end the send in flight, so the PURGE has nothing to wait for.
                  if (flags & FLUSH_UPLOAD) return mapi_logoff_spooler_end_send(s->sp, id, true);
                  return S_OK;
              },
              &seen, nullptr, nullptr) == S_OK);
    mapi_logoff_store *raw = nullptr;
    CHECK(mapi_logoff_store_open(sp.get(), "cpp", &raw) == S_OK);
    StoreRef store(raw);
    CHECK(mapi_logoff_spooler_submit(sp.get(), "cpp") == S_OK);
    CHECK(mapi_logoff_spooler_begin_send(sp.get(), "cpp") == S_OK);
    uint32_t flags = LOGOFF_PURGE;
    CHECK(mapi_logoff_store_logoff(store.get(), &flags) == S_OK);
    CHECK(flags == (LOGOFF_PURGE | LOGOFF_OUTBOUND));  // the mode and the activity
    CHECK(store.reset());  // the final release runs the PURGE
    CHECK(seen.flushes == 1);
    mapi_logoff_store_stats st{};
    CHECK(mapi_logoff_spooler_stats(sp.get(), "cpp", &st) == S_OK);
    CHECK(st.released && st.sent == 1);
    CHECK((seen.kinds == std::vector<std::string>{"decided", "released"}));
}

void threads_race_the_release() {
    for (int it = 0; it < 200; it++) {
        struct Count {
            std::atomic<int> calls{0};
            std::atomic<int> freed{0};
        } count;
        mapi_logoff_store *raw = nullptr;
        CHECK(mapi_logoff_store_new(
                  [](void *ctx, uint32_t *flags) -> int32_t {
                      static_cast<Count *>(ctx)->calls++;
                      *flags = LOGOFF_COMPLETE;
                      return S_OK;
                  },
                  &count, [](void *ctx) { static_cast<Count *>(ctx)->freed++; }, 0, &raw) == S_OK);
        StoreRef first(raw);
        std::vector<StoreRef> refs(8, first);  // 8 copies: 8 AddRefs
        first.reset();
        std::atomic<int> finals{0};
        std::vector<std::thread> threads;
        for (auto &r : refs)
            threads.emplace_back([&finals, ref = std::move(r)]() mutable {
                StoreRef extra = ref;  // AddRef and Release on the way
                uint32_t flags = LOGOFF_NO_WAIT;
                mapi_logoff_store_logoff(ref.get(), &flags);
                extra.reset();
                if (ref.reset()) finals++;
            });
        for (auto &t : threads) t.join();
        CHECK(finals == 1);
        CHECK(count.calls == 1);
        CHECK(count.freed == 1);
        if (failures) break;
    }
}

}  // namespace

int main() {
    decide_with_mapi_spellings();
    lambdas_as_callbacks();
    threads_race_the_release();
    if (failures) {
        std::fprintf(stderr, "test_cpp: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp: all checks passed\n");
    return 0;
}
