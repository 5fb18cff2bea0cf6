// object_lock.cpp: S3 Object Lock headers and the Content-MD5 they need.
#include "core/storage/s3/object_lock.h"

#include <openssl/evp.h>

#include <cstdio>
#include <ctime>
#include <string>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

std::string ObjectLockModeName(ObjectLockMode mode) {
  switch (mode) {
    case ObjectLockMode::kGovernance:
      return "governance";
    case ObjectLockMode::kCompliance:
      return "compliance";
    case ObjectLockMode::kNone:
      break;
  }
  return "";
}

ObjectLockMode ObjectLockModeFromName(const std::string& name) {
  if (name == "governance")
    return ObjectLockMode::kGovernance;
  if (name == "compliance")
    return ObjectLockMode::kCompliance;
  return ObjectLockMode::kNone;
}

std::time_t RetainUntil(const ObjectLock& lock, std::time_t now) {
  return now + static_cast<std::time_t>(lock.days) * 86400;
}

std::string Iso8601Utc(std::time_t when) {
  struct tm utc {};
  if (gmtime_r(&when, &utc) == nullptr || utc.tm_year < -1900 || utc.tm_year > 9999 - 1900)
    throw Error(ErrorKind::kInvalidParameter,
                "time cannot be written as an ISO 8601 date: " + std::to_string(when));
  char text[96];  // room for any int in each field, as the compiler counts
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  return text;
}

NameValueList ObjectLockHeaders(const ObjectLock& lock, std::time_t now) {
  if (!lock.enabled())
    return {};
  return {{"x-amz-object-lock-mode",
           lock.mode == ObjectLockMode::kCompliance ? "COMPLIANCE" : "GOVERNANCE"},
          {"x-amz-object-lock-retain-until-date", Iso8601Utc(RetainUntil(lock, now))}};
}

std::string ContentMd5(const uint8_t* data, size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data, size, digest, &length, EVP_md5(), nullptr) != 1 || length != 16)
    throw Error(ErrorKind::kInternal, "could not compute the MD5 digest of a request body");
  unsigned char encoded[32];  // 4 * ceil(16 / 3) + 1
  int written = EVP_EncodeBlock(encoded, digest, static_cast<int>(length));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(written));
}

}  // namespace pgbak
