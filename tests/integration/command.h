// Runs a program as a child process with a deadline and captures its standard
// output and standard error separately, for tests of the clusterlite binary.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace clusterlite::test {

struct CommandResult {
  // The exit code; -(signal number) when a signal ended the child; -SIGKILL
  // also when the deadline passed and the child was killed.
  int exit_code = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] is the program path) with `env` added to this process's
// environment, minus every inherited CLUSTERLITE_* variable, so overrides come
// only from `env`. Kills the child with SIGKILL once `timeout` passes.
CommandResult run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

// `text` split at '\n'; a final line without '\n' counts, an empty tail does not.
std::vector<std::string> lines(const std::string& text);

}  // namespace clusterlite::test
