// object_lock.h: S3 Object Lock retention for every object a storage writes.
//
// A storage with the option object_lock ({"mode": "governance" |
// "compliance", "days": N}) creates every object with a retention: the
// request that creates it (PutObject, or CreateMultipartUpload for a
// multipart upload) carries x-amz-object-lock-mode and
// x-amz-object-lock-retain-until-date, signed like every x-amz-* header.
// AWS refuses a PutObject with a retention unless its body has an integrity
// check (Content-MD5, or an x-amz-checksum-* header), and asks the same of
// every UploadPart of an upload started with one: those requests carry
// Content-MD5 (ContentMd5 below). Nothing here reads a clock: the caller
// passes the time of the request.
//
// We never send x-amz-bypass-governance-retention: a governance lock holds
// for us as a compliance lock does (only a user with
// s3:BypassGovernanceRetention may lift it, by hand).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

#include "core/storage/s3/sigv4.h"

namespace pgbak {

enum class ObjectLockMode { kNone, kGovernance, kCompliance };

// ObjectLock is a storage's retention for new objects; kNone: no lock.
struct ObjectLock {
  ObjectLockMode mode = ObjectLockMode::kNone;
  int days = 0;  // 1 to kMaxObjectLockDays when mode is not kNone
  bool enabled() const { return mode != ObjectLockMode::kNone; }
};

// kMaxObjectLockDays bounds days: 100 years, S3's own bound for a bucket's
// default retention. More is a typo, not a policy.
constexpr int kMaxObjectLockDays = 36500;

// ObjectLockModeName is the mode as the option spells it ("governance",
// "compliance"; "" for kNone).
std::string ObjectLockModeName(ObjectLockMode mode);

// ObjectLockModeFromName is the inverse of ObjectLockModeName for the two
// modes; kNone for anything else (the caller refuses it).
ObjectLockMode ObjectLockModeFromName(const std::string& name);

// RetainUntil is when an object created at `now` may be deleted:
// now + days, to the second.
std::time_t RetainUntil(const ObjectLock& lock, std::time_t now);

// Iso8601Utc renders a time as AWS's timestamps in headers:
// "YYYY-MM-DDTHH:MM:SSZ". Throws kInvalidParameter outside 0000-9999.
std::string Iso8601Utc(std::time_t when);

// ObjectLockHeaders are the headers of a request that creates an object at
// `now`: x-amz-object-lock-mode (GOVERNANCE or COMPLIANCE) and
// x-amz-object-lock-retain-until-date (Iso8601Utc of RetainUntil). Empty
// when the lock is not enabled.
NameValueList ObjectLockHeaders(const ObjectLock& lock, std::time_t now);

// ContentMd5 is the Content-MD5 header value of a body: the base64 of its
// MD5 digest (RFC 1864).
std::string ContentMd5(const uint8_t* data, size_t size);

}  // namespace pgbak
