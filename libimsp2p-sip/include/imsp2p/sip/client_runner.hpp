/**
 * @file
 * client_runner: the whole `imsp2p-client` program as a class, so that the program's `main` only
 * hands it the command line (and an operator's own tool can embed the same command set).
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <string>
#include <vector>

namespace imsp2p::sip {

/**
 * The `imsp2p-client` command line: `register`, `package`, `publish`, `acquire`, `seed`
 * (`--operator`), `play`, `list` and `status`, each with `--help`, over ims_client and the DRM
 * library. `imsp2p-client --help` and `imsp2p-client <command> --help` describe them; the
 * configuration keys are those of client_settings::from_config(), and every flag overrides the
 * key of the same name ('-' for '_').
 *
 * Output: results on standard output (JSON for `status` and `list --json`), progress (a bar on
 * a terminal, plain lines otherwise) and errors on standard error, logs as configured.
 *
 * Signals: the daemon commands (`seed`, and `publish --seed`) block SIGTERM and SIGINT in the
 * calling thread before any thread starts (so every thread of the process inherits the mask)
 * and wait for them to stop cleanly (resume data saved, registration removed). Call run() from
 * the main thread of a process that leaves those signals to it.
 *
 * Not copyable; one run() at a time.
 */
class IMSP2P_SIP_EXPORT client_runner {
  public:
    /** Makes a runner; nothing is read or started before run(). */
    client_runner() = default;
    client_runner(const client_runner&) = delete;
    client_runner& operator=(const client_runner&) = delete;

    /**
     * Runs one command; blocks until it is done (daemon commands: until SIGTERM/SIGINT).
     * @param arguments the command line without the program name, e.g. {"acquire",
     *        "10.5555/x", "--config", "bob.json"}
     * @return the exit status: 0 done, 1 failed (the reason on standard error), 2 usage error
     */
    int run(const std::vector<std::string>& arguments);
};

}  // namespace imsp2p::sip
