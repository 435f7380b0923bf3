// AKA benchmarks: Milenage, authentication vector generation (RAND from the OpenSSL CSPRNG and
// every f-function), the USIM side, and the SQLite-backed HSS. The key figure, printed last,
// is authentication vectors per second on one core (one thread), as an HSS/AuC computes them.

#include <imsp2p/pana/hss.hpp>
#include <imsp2p/pana/milenage.hpp>
#include <imsp2p/pana/usim.hpp>

#include <benchmark/benchmark.h>

#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace pana = imsp2p::pana;
namespace core = imsp2p::core;

namespace {

// A small population of subscribers, so that every vector re-keys the cipher context as an
// HSS serving many users does.
struct subscriber_keys {
    pana::aka_key k{};
    pana::aka_opc opc{};
};

std::vector<subscriber_keys> population(std::size_t count) {
    std::vector<subscriber_keys> keys(count);
    for (std::size_t i = 0; i < count; ++i) {
        keys[i].k.fill(static_cast<std::uint8_t>(i + 1));
        keys[i].opc.fill(static_cast<std::uint8_t>(0x80 + i));
    }
    return keys;
}

void BM_MilenageComputeAll(benchmark::State& state) {
    pana::milenage m(population(1)[0].k, population(1)[0].opc);
    pana::aka_rand rand{};
    for (auto _ : state) {
        rand[0]++;
        benchmark::DoNotOptimize(m.compute(rand, pana::sqn(42), {0x80, 0x00}));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MilenageComputeAll);

void BM_GenerateVector(benchmark::State& state) {
    const std::vector<subscriber_keys> keys = population(64);
    pana::vector_generator generator;
    std::uint64_t n = 0;
    for (auto _ : state) {
        const subscriber_keys& s = keys[n % keys.size()];
        benchmark::DoNotOptimize(generator.generate(s.k, s.opc, {0x80, 0x00}, pana::sqn(++n)));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GenerateVector);

void BM_UsimAuthenticate(benchmark::State& state) {
    const subscriber_keys s = population(1)[0];
    pana::usim_profile profile;
    profile.k = s.k;
    profile.opc = s.opc;
    pana::sqn_policy lenient;
    lenient.age_limit = 0;
    profile.window = pana::sqn_window(lenient);
    pana::usim card(profile);
    pana::vector_generator generator;
    std::uint64_t seq = 0;
    std::error_code ec;
    for (auto _ : state) {
        state.PauseTiming();
        ++seq;
        const pana::authentication_vector av =
            generator.generate(s.k, s.opc, {0x80, 0x00}, pana::sqn::from_parts(seq, seq % 32, 5));
        state.ResumeTiming();
        benchmark::DoNotOptimize(card.authenticate(av.rand, av.autn, ec));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UsimAuthenticate);

void BM_HssVectorFromSqlite(benchmark::State& state) {
    pana::subscriber_store store = pana::subscriber_store::open(":memory:");
    pana::subscriber_record record;
    record.impi = core::impi::parse("alice@ims.example.net");
    record.k = population(1)[0].k;
    record.opc = population(1)[0].opc;
    store.create(record);
    pana::hss home(store);
    std::error_code ec;
    for (auto _ : state) {
        benchmark::DoNotOptimize(home.generate_vector(record.impi, ec));
        if (ec) {
            state.SkipWithError(ec.message().c_str());
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HssVectorFromSqlite);

// CPU time consumed by this thread, so that the figure is per core even on a busy machine.
double thread_cpu_seconds() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

struct throughput {
    double per_cpu_second = 0;
    double per_wall_second = 0;
};

// The key figure: vectors per second on one core, from about 1.5 s of CPU time on one thread,
// cycling through 64 subscribers (every vector re-keys the cipher context).
throughput vectors_per_second() {
    const std::vector<subscriber_keys> keys = population(64);
    pana::vector_generator generator;
    using clock = std::chrono::steady_clock;
    std::uint64_t count = 0;
    std::uint8_t sink = 0;
    const auto wall_start = clock::now();
    const double cpu_start = thread_cpu_seconds();
    double cpu_now = cpu_start;
    while (cpu_now - cpu_start < 1.5) {
        for (int i = 0; i < 4096; ++i, ++count) {
            const subscriber_keys& s = keys[count % keys.size()];
            const pana::authentication_vector av =
                generator.generate(s.k, s.opc, {0x80, 0x00}, pana::sqn(count + 1));
            sink ^= av.autn[15];
        }
        cpu_now = thread_cpu_seconds();
    }
    const double wall = std::chrono::duration<double>(clock::now() - wall_start).count();
    benchmark::DoNotOptimize(sink);
    return {static_cast<double>(count) / (cpu_now - cpu_start), static_cast<double>(count) / wall};
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    const throughput rate = vectors_per_second();
    std::printf("aka_vectors_per_wall_s (informative, depends on machine load): %.0f\n",
                rate.per_wall_second);
    std::printf("aka_vectors_per_s: %.0f\n", rate.per_cpu_second);
    return 0;
}
