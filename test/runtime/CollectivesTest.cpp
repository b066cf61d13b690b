//===- CollectivesTest.cpp - how a process learns it is one of several ----===//
#include "runtime/src/collectives.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace {

using namespace kiln::runtime;

/// Clears the launchers' variables for one test, restoring nothing: the
/// tests of this binary never run under a launcher.
void clearLaunchers() {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                           "SLURM_NTASKS"})
    unsetenv(name);
}

TEST(Collectives, RanksComeFromTheLauncher) {
  clearLaunchers();
  EXPECT_FALSE(launchedAsRanks());
  // A lone process: no communicator, and that is no error.
  std::unique_ptr<Communicator> comm;
  EXPECT_TRUE(openCommunicator(600, comm).ok());
  EXPECT_EQ(comm, nullptr);

  setenv("OMPI_COMM_WORLD_SIZE", "2", 1); // Open MPI's mpirun -np 2.
  EXPECT_TRUE(launchedAsRanks());
  clearLaunchers();
  setenv("OMPI_COMM_WORLD_SIZE", "1", 1); // mpirun -np 1: alone.
  EXPECT_FALSE(launchedAsRanks());
  clearLaunchers();
  setenv("PMI_SIZE", "4", 1); // MPICH's Hydra.
  EXPECT_TRUE(launchedAsRanks());
  clearLaunchers();
  setenv("PMIX_RANK", "0", 1); // A PMIx launcher (srun --mpi=pmix).
  EXPECT_TRUE(launchedAsRanks());
  clearLaunchers();
  // A single process in a Slurm job of several tasks runs alone.
  setenv("SLURM_NTASKS", "8", 1);
  EXPECT_FALSE(launchedAsRanks());
  clearLaunchers();
}

TEST(Collectives, TimeoutMustBePositive) {
  clearLaunchers();
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  std::unique_ptr<Communicator> comm;
  Status s = openCommunicator(0, comm);
  clearLaunchers();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("timeout must be positive"),
            std::string::npos)
      << s.message();
}

} // namespace
