/**
 * @file
 * The logic of the `imsp2p-aka` program (its main only forwards the arguments): Milenage
 * conformance checks, subscriber provisioning and authentication vectors from the command line.
 *
 * Commands (options take `--name value` or `--name=value`):
 * - `milenage --k HEX (--op HEX | --opc HEX) --rand HEX --sqn HEX --amf HEX` prints one JSON
 *   object with lowercase hex keys `opc, f1, f1star, f2, f3, f4, f5, f5star`.
 * - `provision --db FILE --impi ID --k HEX (--op HEX | --opc HEX) [--amf HEX] [--sqn HEX]
 *   [--replace]` stores a subscriber (AMF default 8000, SQN_HE default 0); `--replace` updates
 *   an existing one. Prints `{"impi":..., "action":"created"|"updated"}`; never K or OPc.
 * - `deprovision --db FILE --impi ID` deletes a subscriber.
 * - `vector --db FILE --impi ID [--count N]` prints an authentication vector as JSON
 *   (`impi, sqn, rand, xres, ck, ik, autn`), or an array of N vectors.
 * - `resync --db FILE --impi ID --rand HEX --auts HEX` applies a resynchronisation request and
 *   prints `{"impi":..., "sqn_ms":...}`.
 * The database commands also take `--master-key FILE` (a 0600 file of 32 bytes wrapping K and
 * OPc at rest) and `--config FILE`, a JSON object that may supply `db` and `master_key`
 * (relative paths are taken from the configuration file's folder; command-line options win;
 * unknown keys are an error). `--help` prints the usage.
 *
 * Exit codes: 0 success, 1 failure (I/O, database, unknown subscriber, bad configuration
 * file...), 2 usage error (unknown command or option, missing or malformed value). Errors go
 * to the error stream as one line `imsp2p-aka: <message>`.
 */
#pragma once

#include <imsp2p/pana/export.hpp>

#include <ostream>
#include <span>
#include <string>
#include <string_view>

namespace imsp2p::pana {

/**
 * Runs `imsp2p-aka` commands against output streams (so that tests drive it directly).
 *
 * Borrows the two streams, which must outlive it. Each run() is independent (it opens and
 * closes the database it needs). Not safe for concurrent use of one object.
 */
class IMSP2P_PANA_EXPORT aka_tool {
  public:
    /** Exit code of a successful command. */
    static constexpr int exit_success = 0;
    /** Exit code of a command that failed at run time. */
    static constexpr int exit_failure = 1;
    /** Exit code of a malformed command line. */
    static constexpr int exit_usage = 2;

    /**
     * Creates a tool writing to two streams.
     * @param out receives the results (one JSON document per command, then a newline)
     * @param err receives error messages
     */
    aka_tool(std::ostream& out, std::ostream& err) noexcept;

    /**
     * Runs one command line.
     * @param arguments the arguments after the program name
     * @return exit_success, exit_failure or exit_usage
     */
    int run(std::span<const std::string_view> arguments);

    /** @return the usage text printed by `--help` */
    static std::string usage();

  private:
    std::ostream* out_;
    std::ostream* err_;
};

}  // namespace imsp2p::pana
