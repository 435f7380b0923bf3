/**
 * @file
 * Error codes of libimsp2p-sip (the SIP Application Server, IMS client UA and development IMS
 * core).
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <system_error>

namespace imsp2p::sip {

/** Error conditions raised by libimsp2p-sip; messages come from error_category(). */
enum class errc {
    untrusted_source = 1,    ///< Request did not come from a trusted S-CSCF.
    no_asserted_identity,    ///< Request carries no P-Asserted-Identity.
    bad_body,                ///< Request body is malformed.
    unsupported_media_type,  ///< Request body has an unsupported content type.
    body_too_large,          ///< Request body is too large.
    unknown_content,         ///< Content is unknown.
    content_withdrawn,       ///< Content has been withdrawn.
    bad_event,               ///< Event package is not supported.
    stack_failure,           ///< SIP stack failure.
    unknown_subscriber,      ///< No such IMS subscriber (IMPU or IMPI) is provisioned.
    subscriber_exists,       ///< The IMS subscriber (IMPU) is already provisioned.
    dependency_unavailable,  ///< A server the AS depends on is unavailable (retry later).
    dependency_refused,      ///< A server the AS depends on refused the request.
    conflict,                ///< The resource exists with other values (e.g. DOI taken).
    publish_not_allowed,     ///< The user may not publish content.
    payment_declined,        ///< Charging declined the purchase.
    swarm_bad_torrent,       ///< The torrent file is not a valid torrent (libtorrent refused it).
    swarm_torrent_not_private,    ///< The torrent is not private (BEP 27).
    swarm_bad_announce_url,       ///< The announce URL is empty or not an http(s):// or udp:// URL.
    swarm_unknown_torrent,        ///< The swarm has no torrent with this id.
    swarm_storage_failed,         ///< A swarm folder or file could not be created, read or written.
    swarm_transfer_failed,        ///< libtorrent stopped the torrent with a storage error.
    identity_body_malformed,      ///< The RFC 3893 identity body is not a CMS SignedData sipfrag.
    identity_body_bad_signature,  ///< The identity body's signature does not verify.
    identity_body_untrusted_signer,   ///< The signer certificate does not chain to a trusted CA.
    identity_body_identity_mismatch,  ///< The signer certificate's rfc822Name is not the IMPI.
    identity_body_request_mismatch,   ///< The sipfrag's From/To/Call-ID/CSeq differ from the
                                      ///< request.
    identity_body_stale,              ///< The sipfrag's Date is outside the accepted window.
    identity_body_bad_signer,         ///< The signer's certificate or private key cannot be loaded.
};

/** The error category of imsp2p::sip::errc; its name() is "imsp2p.sip". */
IMSP2P_SIP_EXPORT const std::error_category& error_category() noexcept;

/** Makes an error code of the sip category (found by ADL). */
IMSP2P_SIP_EXPORT std::error_code make_error_code(errc e) noexcept;

}  // namespace imsp2p::sip

/** Lets `std::error_code` be constructed from imsp2p::sip::errc. */
template <>
struct std::is_error_code_enum<imsp2p::sip::errc> : std::true_type {};
