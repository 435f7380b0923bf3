// Test support: a program under test started as a child process (posix_spawnp), its stdout
// and stderr written to one file, killed (SIGKILL) when the object is destroyed while it still
// runs: by its pid, or its whole process group when it was given one (programs that fork
// workers, such as Kamailio).
//
//   imsp2p_test::child_process paa({program, "--config=" + config}, log_file);
//   paa.signal(SIGTERM);
//   EXPECT_EQ(paa.wait(10s), 0);
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace imsp2p_test {

/** How a child_process is started. */
struct process_options {
    /** A process group of its own: signals and the final SIGKILL reach its children too. */
    bool own_process_group = false;
    /** The child's working directory; empty: the test's. */
    std::filesystem::path working_directory;
};

/** A child process we started (posix_spawnp), killed when destroyed if running. */
class child_process {
  public:
    /**
     * Starts the program (looked up in PATH).
     * @param args the program and its arguments
     * @param output_file receives stdout and stderr (truncated)
     * @throws std::runtime_error when it cannot be started
     */
    child_process(std::vector<std::string> args, const std::string& output_file,
                  const process_options& options = {})
        : output_file_(output_file) {
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        if (!options.working_directory.empty()) {
            posix_spawn_file_actions_addchdir_np(&actions, options.working_directory.c_str());
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, output_file.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        posix_spawnattr_t attributes;
        posix_spawnattr_init(&attributes);
        if (options.own_process_group) {
            posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
            posix_spawnattr_setpgroup(&attributes, 0);
        }
        const int rc = posix_spawnp(&pid_, argv[0], &actions, &attributes, argv.data(), environ);
        posix_spawnattr_destroy(&attributes);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            throw std::runtime_error("cannot start " + args.front());
        }
        group_ = options.own_process_group ? pid_ : -1;
    }
    ~child_process() {
        if (group_ > 0) {
            ::kill(-group_, SIGKILL);
        } else if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
        }
        if (pid_ > 0) {
            ::waitpid(pid_, nullptr, 0);
        }
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /** Sends a signal to the process (only ours, by its pid). */
    void signal(int number) const {
        if (pid_ > 0) {
            ::kill(pid_, number);
        }
    }

    /**
     * Waits for the exit.
     * @return the exit status (128 + the signal number when a signal ended it), or -1 on timeout
     */
    int wait(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (running()) {
            if (std::chrono::steady_clock::now() > deadline) {
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return exit_status_;
    }

    /** @return true until the process has exited (then wait() returns its status at once) */
    bool running() {
        int status = 0;
        if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            pid_ = -1;
        }
        return pid_ > 0;
    }

    /**
     * SIGTERM, then SIGKILL (to the whole group, if it has one) after @p grace.
     * @return the exit status, or -1 if it had to be killed
     */
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) {
        signal(SIGTERM);
        const int status = wait(grace);
        if (group_ > 0) {
            ::kill(-group_, SIGKILL);
        } else if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
        }
        if (pid_ > 0) {
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
        return status;
    }

    /** @return true while any process of its group is alive (false without a group of its own) */
    [[nodiscard]] bool group_alive() const {
        return group_ > 0 && (::kill(-group_, 0) == 0 || errno != ESRCH);
    }

    /** @return what the process wrote so far (stdout and stderr) */
    [[nodiscard]] std::string output() const {
        std::ifstream file(output_file_);
        std::stringstream text;
        text << file.rdbuf();
        return text.str();
    }

  private:
    pid_t pid_ = -1;
    pid_t group_ = -1;
    int exit_status_ = -1;
    std::string output_file_;
};

}  // namespace imsp2p_test
