//===- collectives.cpp - data-parallel communication over MPI -------------===//
#include "collectives.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#ifdef KILN_HAVE_MPI
// The C API only: not the deprecated C++ bindings (a second library).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace kiln::runtime {

namespace {

const char *env(const char *name) {
  const char *v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int envInt(std::initializer_list<const char *> names, int fallback) {
  for (const char *n : names)
    if (const char *v = env(n))
      return std::atoi(v);
  return fallback;
}

} // namespace

bool launchedAsRanks() {
  // Open MPI's mpirun, MPICH's Hydra (and Intel MPI), PMI-2 and PMIx
  // launchers (srun --mpi=...). Not the allocation's SLURM_NTASKS: a single
  // process in a batch job of several tasks runs alone.
  return envInt({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}, 1) > 1 ||
         env("PMIX_RANK") != nullptr;
}

Status Communicator::sum(double *data, int64_t count, const std::string &what) {
  int handle = 0;
  if (Status s = start(data, count, DType::F64, /*mean=*/false, what, handle);
      !s.ok())
    return s;
  return wait(handle);
}

#ifdef KILN_HAVE_MPI
namespace {

using Clock = std::chrono::steady_clock;

class MpiCommunicator final : public Communicator {
public:
  explicit MpiCommunicator(double timeout) : timeout_(timeout) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // Errors come back as codes (a dead peer), not as an abort inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_,
                        MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &localRank_);
    MPI_Comm_size(local, &localSize_);
    MPI_Comm_free(&local);
  }
  ~MpiCommunicator() override {
    // (A collective still pending means an error ended the run: the caller
    // aborts the job; MPI does not allow freeing its requests.)
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
      MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int localRank() const override { return localRank_; }
  int localSize() const override { return localSize_; }
  double timeout() const override { return timeout_; }
  std::string describe() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string v(version, size_t(length));
    if (size_t nl = v.find_first_of(",\n"); nl != std::string::npos)
      v.resize(nl);
    return "MPI (" + v + ")";
  }

  Status start(void *data, int64_t count, DType dtype, bool mean,
               const std::string &what, int &handle) override {
    if (dtype != DType::F32 && dtype != DType::F64)
      return Status(KILN_STATUS_UNIMPLEMENTED,
                    what + ": all-reduce of " + std::string(dtypeName(dtype)) +
                        " (F32 and F64 only)");
    Pending p;
    p.data = data;
    p.count = count;
    p.dtype = dtype;
    p.mean = mean;
    p.what = what;
    p.started = Clock::now();
    // MPI counts are ints: a bucket of more than 2^31 elements is reduced
    // in parts, each its own request.
    constexpr int64_t kMaxCount = int64_t(1) << 30;
    MPI_Datatype type = dtype == DType::F32 ? MPI_FLOAT : MPI_DOUBLE;
    size_t element = dtypeSize(dtype);
    for (int64_t at = 0; at < count; at += kMaxCount) {
      MPI_Request r;
      int rc = MPI_Iallreduce(MPI_IN_PLACE,
                              static_cast<char *>(data) + at * element,
                              int(std::min(kMaxCount, count - at)), type,
                              MPI_SUM, MPI_COMM_WORLD, &r);
      if (rc != MPI_SUCCESS)
        return failure(what, rc);
      p.requests.push_back(r);
    }
    p.active = true;
    handle = int(pending_.size());
    pending_.push_back(std::move(p));
    return Status();
  }

  void poll() override {
    for (Pending &p : pending_)
      if (p.active && p.error == MPI_SUCCESS && !p.requests.empty()) {
        int done = 0;
        // A failure is kept for wait() to report: the requests may be
        // gone by then.
        p.error = MPI_Testall(int(p.requests.size()), p.requests.data(),
                              &done, MPI_STATUSES_IGNORE);
      }
  }

  Status wait(int handle) override {
    if (handle < 0 || size_t(handle) >= pending_.size() ||
        !pending_[handle].active)
      return Status(KILN_STATUS_INTERNAL, "wait on no pending collective");
    Pending &p = pending_[handle];
    auto deadline =
        p.started + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(timeout_));
    int spins = 0;
    if (p.error != MPI_SUCCESS) {
      p.active = false;
      return failure(p.what, p.error);
    }
    for (;;) {
      int done = 0;
      int rc = MPI_Testall(int(p.requests.size()), p.requests.data(), &done,
                           MPI_STATUSES_IGNORE);
      if (rc != MPI_SUCCESS) {
        p.active = false;
        return failure(p.what, rc);
      }
      if (done)
        break;
      if (Clock::now() > deadline) {
        p.active = false;
        return Status(KILN_STATUS_DEADLINE_EXCEEDED,
                      p.what + " did not complete within " +
                          formatSeconds(timeout_) +
                          " s: another rank has died or hangs "
                          "(--collective-timeout sets the limit)");
      }
      // Spin briefly, then sleep: two ranks may share one core.
      if (++spins > 1000)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    if (p.mean && size_ > 1) {
      if (p.dtype == DType::F32) {
        float *v = static_cast<float *>(p.data);
        const float inv = 1.0f / float(size_);
        for (int64_t i = 0; i < p.count; ++i)
          v[i] *= inv;
      } else {
        double *v = static_cast<double *>(p.data);
        const double inv = 1.0 / double(size_);
        for (int64_t i = 0; i < p.count; ++i)
          v[i] *= inv;
      }
    }
    p.active = false;
    p.requests.clear();
    if (size_t(handle) + 1 == pending_.size())
      while (!pending_.empty() && !pending_.back().active)
        pending_.pop_back();
    return Status();
  }

  Status barrier(const std::string &what) override {
    return blocking(what, [](std::vector<MPI_Request> &requests) {
      MPI_Request r;
      int rc = MPI_Ibarrier(MPI_COMM_WORLD, &r);
      requests.push_back(r);
      return rc;
    });
  }

  Status broadcast(void *data, int64_t bytes, int root,
                   const std::string &what) override {
    return blocking(what, [&](std::vector<MPI_Request> &requests) {
      constexpr int64_t kMaxCount = int64_t(1) << 30;
      for (int64_t at = 0; at < bytes; at += kMaxCount) {
        MPI_Request r;
        int rc = MPI_Ibcast(static_cast<char *>(data) + at,
                            int(std::min(kMaxCount, bytes - at)), MPI_BYTE,
                            root, MPI_COMM_WORLD, &r);
        if (rc != MPI_SUCCESS)
          return rc;
        requests.push_back(r);
      }
      return MPI_SUCCESS;
    });
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

private:
  struct Pending {
    void *data = nullptr;
    int64_t count = 0;
    DType dtype = DType::F32;
    bool mean = false, active = false;
    int error = MPI_SUCCESS; ///< A failure poll() saw.
    std::string what;
    Clock::time_point started;
    std::vector<MPI_Request> requests;
  };

  /// Issues the requests `issue` makes, then waits for them (bounded by
  /// the timeout) as for any collective.
  template <typename Issue>
  Status blocking(const std::string &what, Issue issue) {
    Pending p;
    p.what = what;
    p.started = Clock::now();
    if (int rc = issue(p.requests); rc != MPI_SUCCESS)
      return failure(what, rc);
    p.active = true;
    pending_.push_back(std::move(p));
    return wait(int(pending_.size() - 1));
  }

  Status failure(const std::string &what, int rc) const {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, text, &length);
    return Status(KILN_STATUS_UNAVAILABLE,
                  what + " failed: " + std::string(text, size_t(length)));
  }
  static std::string formatSeconds(double s) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", s);
    return text;
  }

  double timeout_;
  int rank_ = 0, size_ = 1, localRank_ = 0, localSize_ = 1;
  std::vector<Pending> pending_;
};

} // namespace
#endif // KILN_HAVE_MPI

namespace {

class OneRankCommunicator final : public Communicator {
public:
  explicit OneRankCommunicator(double timeout) : timeout_(timeout) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int localRank() const override { return 0; }
  int localSize() const override { return 1; }
  double timeout() const override { return timeout_; }
  std::string describe() const override { return "one rank"; }
  // The sum or mean over one rank is the data itself.
  Status start(void *, int64_t, DType, bool, const std::string &,
               int &handle) override {
    handle = 0;
    return Status();
  }
  void poll() override {}
  Status wait(int) override { return Status(); }
  Status barrier(const std::string &) override { return Status(); }
  Status broadcast(void *, int64_t, int, const std::string &) override {
    return Status();
  }
  [[noreturn]] void abort(int code) override { std::exit(code); }

private:
  double timeout_;
};

} // namespace

std::unique_ptr<Communicator> makeOneRankCommunicator(double timeoutSeconds) {
  return std::make_unique<OneRankCommunicator>(timeoutSeconds);
}

Status openCommunicator(double timeoutSeconds,
                        std::unique_ptr<Communicator> &out) {
  out.reset();
  if (!launchedAsRanks())
    return Status();
  if (!(timeoutSeconds > 0))
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "the collective timeout must be positive");
#ifdef KILN_HAVE_MPI
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS)
      return Status(KILN_STATUS_UNAVAILABLE,
                    "MPI_Init failed: cannot join the ranks mpirun started");
  }
  auto comm = std::make_unique<MpiCommunicator>(timeoutSeconds);
  if (comm->size() > 1)
    out = std::move(comm);
  return Status();
#else
  return Status(KILN_STATUS_UNIMPLEMENTED,
                "this process was started as one of several ranks (by mpirun "
                "or srun), but this kiln was built without MPI: install "
                "libopenmpi-dev and rebuild, or run a single process");
#endif
}

} // namespace kiln::runtime
