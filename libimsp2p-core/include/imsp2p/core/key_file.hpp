/**
 * @file
 * Secret files: keys and other secrets kept on disk with owner-only (0600) permissions.
 *
 * Servers keep their signing keys (the AS's Ed25519 key, the DRM server's Ed25519 and X25519
 * keys), clients their device keys, and the DRM server its master key in such files. Writing is
 * atomic (a temporary file in the same folder, fsync, rename), so a crash never leaves a
 * half-written key; reading refuses files that group or others can access, as OpenSSH does.
 *
 * All functions are safe to call from any thread; concurrent writers of the same path race
 * like any rename (the last one wins, never a mix).
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/export.hpp>
#include <imsp2p/core/jose.hpp>

#include <filesystem>
#include <system_error>

namespace imsp2p::core {

/**
 * Atomically writes @p contents to @p path with permissions 0600, creating missing parent
 * folders (0700).
 * @param path the file to (re)place
 * @param contents the secret bytes
 * @param ec errc::io_error on any file-system failure (the previous file, if any, is kept)
 */
IMSP2P_CORE_EXPORT void write_secret_file(const std::filesystem::path& path, byte_view contents,
                                          std::error_code& ec);

/**
 * Reads a secret file after checking that only its owner can access it.
 * @param path the file
 * @param ec errc::not_found if absent, errc::insecure_permissions if group or others have any
 *        access bit, errc::io_error if unreadable or larger than 1 MiB
 * @return the contents (wiped when destroyed), empty on error
 */
IMSP2P_CORE_EXPORT secret_bytes read_secret_file(const std::filesystem::path& path,
                                                 std::error_code& ec);

/**
 * Writes a private JWK (with its "d" member) as a 0600 secret file.
 * @param path the key file
 * @param key a private key (errc::jwk_no_private_key otherwise)
 * @param ec the error, as write_secret_file()
 */
IMSP2P_CORE_EXPORT void write_private_key_file(const std::filesystem::path& path, const jwk& key,
                                               std::error_code& ec);

/**
 * Reads a private JWK from a 0600 secret file.
 * @param path the key file
 * @param ec the codes of read_secret_file(), errc::jwk_malformed / jwk_unsupported for bad
 *        content, errc::jwk_no_private_key if the file holds only a public key
 * @return the key, empty on error
 */
IMSP2P_CORE_EXPORT jwk read_private_key_file(const std::filesystem::path& path,
                                             std::error_code& ec);

/**
 * Loads the private key kept at @p path or, when the file does not exist, generates one of the
 * given curve and stores it there first ("created on first use", as device keys are).
 * @param path the key file
 * @param curve the curve of a newly generated key; an existing key of another curve is an error
 *        (errc::jwk_unsupported)
 * @param ec the codes of read_private_key_file() and write_private_key_file()
 * @return the key (its "kid" is its RFC 7638 thumbprint when newly created), empty on error
 */
IMSP2P_CORE_EXPORT jwk load_or_create_private_key(const std::filesystem::path& path,
                                                  jwk_curve curve, std::error_code& ec);

/**
 * Throwing form of load_or_create_private_key().
 * @param path the key file
 * @param curve the curve of a newly generated key
 * @return the key
 * @throws std::system_error with the error and the path
 */
IMSP2P_CORE_EXPORT jwk load_or_create_private_key(const std::filesystem::path& path,
                                                  jwk_curve curve);

}  // namespace imsp2p::core
