// sigv4.cpp: AWS Signature Version 4 (header-based, single chunk) for S3.
//
// The steps follow AWS's "Signature Calculations for the Authorization
// Header: Transferring Payload in a Single Chunk": canonical request, string
// to sign, signing key, signature. Every input is validated before it can
// reach a header line, because a CR or LF in a value would let the caller
// (or whoever supplied an object key or a metadata value) forge headers.
#include "core/storage/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/pipeline/meter_sink.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr char kAlgorithm[] = "AWS4-HMAC-SHA256";
constexpr char kUnsignedPayload[] = "UNSIGNED-PAYLOAD";

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

bool IsAlpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// IsControl is true for the bytes that must never reach a header line.
bool IsControl(char c) {
  auto byte = static_cast<unsigned char>(c);
  return (byte < 0x20 && c != '\t') || byte == 0x7f;
}

// IsTokenChar is RFC 9110's tchar: what a header name or method may contain.
bool IsTokenChar(char c) {
  return IsAlpha(c) || IsDigit(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsTokenChar);
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

bool IsSpaceOrTab(char c) {
  return c == ' ' || c == '\t';
}

// Trim removes leading and trailing spaces and tabs.
std::string Trim(std::string_view value) {
  size_t begin = 0;
  size_t end = value.size();
  while (begin < end && IsSpaceOrTab(value[begin])) {
    begin++;
  }
  while (end > begin && IsSpaceOrTab(value[end - 1])) {
    end--;
  }
  return std::string(value.substr(begin, end - begin));
}

// CanonicalHeaderValue trims and collapses inner runs of spaces and tabs into
// one space, as AWS's Trimall() does (the SDKs collapse tabs too).
std::string CanonicalHeaderValue(std::string_view value) {
  std::string trimmed = Trim(value);
  std::string out;
  out.reserve(trimmed.size());
  for (char c : trimmed) {
    if (IsSpaceOrTab(c)) {
      if (out.empty() || out.back() != ' ') {
        out.push_back(' ');
      }
    } else {
      out.push_back(c);
    }
  }
  return out;
}

[[noreturn]] void ThrowInvalid(const std::string& message, std::string detail = {}) {
  throw Error(ErrorKind::kInvalidParameter, message, std::move(detail));
}

void CheckMethod(const std::string& method) {
  if (!IsToken(method)) {
    ThrowInvalid("invalid HTTP method for S3 request signing: \"" + Printable(method) + "\"");
  }
}

// CheckHost refuses what would break the Host header or the URL; the value
// is not secret, so it may be quoted.
void CheckHost(const std::string& host) {
  bool bad = host.empty() || std::any_of(host.begin(), host.end(), [](char c) {
               auto byte = static_cast<unsigned char>(c);
               return byte <= 0x20 || byte == 0x7f ||
                      std::string_view("/?#@\\").find(c) != std::string_view::npos;
             });
  if (bad) {
    ThrowInvalid("invalid host for S3 request signing: \"" + Printable(host) + "\"");
  }
}

void CheckPath(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    ThrowInvalid("S3 request path must start with '/': \"" + Printable(path) + "\"");
  }
}

void CheckHeaderName(const std::string& name) {
  if (!IsToken(name)) {
    ThrowInvalid("invalid HTTP header name for S3 request signing: \"" + Printable(name) + "\"");
  }
}

// CheckHeaderValue refuses control characters; the value itself is left out
// of the message because it may be a token or private metadata.
void CheckHeaderValue(const std::string& name, const std::string& value) {
  if (std::any_of(value.begin(), value.end(), IsControl)) {
    ThrowInvalid("value of HTTP header \"" + Printable(name) + "\" contains a control character");
  }
}

void CheckPayloadHash(const std::string& payload_sha256) {
  bool is_hex = payload_sha256.size() == 64 &&
                std::all_of(payload_sha256.begin(), payload_sha256.end(),
                            [](char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); });
  if (!is_hex && payload_sha256 != kUnsignedPayload) {
    ThrowInvalid("payload hash for S3 request signing must be 64 lowercase hex digits or " +
                 std::string(kUnsignedPayload) + ": \"" + Printable(payload_sha256) + "\"");
  }
}

int TwoDigits(const std::string& text, size_t at) {
  return (text[at] - '0') * 10 + (text[at + 1] - '0');
}

// CheckAmzDate accepts "YYYYMMDDTHHMMSSZ" with plausible field ranges; a
// wrong date would otherwise only show up as a rejected signature.
void CheckAmzDate(const std::string& amz_date) {
  bool ok = amz_date.size() == 16 && amz_date[8] == 'T' && amz_date[15] == 'Z';
  for (size_t i = 0; ok && i < 15; i++) {
    ok = (i == 8) || IsDigit(amz_date[i]);
  }
  if (ok) {
    int month = TwoDigits(amz_date, 4);
    int day = TwoDigits(amz_date, 6);
    int hour = TwoDigits(amz_date, 9);
    int minute = TwoDigits(amz_date, 11);
    int second = TwoDigits(amz_date, 13);
    ok = month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 &&
         second <= 60;
  }
  if (!ok) {
    ThrowInvalid("invalid x-amz-date for S3 request signing: \"" + Printable(amz_date) + "\"",
                 "The expected form is YYYYMMDDTHHMMSSZ in UTC, e.g. 20130524T000000Z.");
  }
}

// CheckScopePart refuses what would break the credential scope or the
// Authorization header: '/' separates the scope, ',' and ' ' the header.
void CheckScopePart(const char* what, const std::string& value) {
  bool bad = value.empty() || std::any_of(value.begin(), value.end(), [](char c) {
               auto byte = static_cast<unsigned char>(c);
               return byte <= 0x20 || byte == 0x7f ||
                      std::string_view("/,;=").find(c) != std::string_view::npos;
             });
  if (bad) {
    ThrowInvalid(std::string("invalid ") + what + " for S3 request signing: \"" + Printable(value) +
                 "\"");
  }
}

// CheckCredentials validates the key id (it is sent, so it may be quoted) and
// only the presence of the secret, which never appears in a message.
void CheckCredentials(const AwsCredentials& credentials) {
  CheckScopePart("access key id", credentials.access_key_id);
  if (credentials.secret_access_key.empty()) {
    ThrowInvalid("secret access key for S3 request signing is empty");
  }
}

void CheckHeaders(const NameValueList& headers) {
  for (const auto& [name, value] : headers) {
    CheckHeaderName(name);
    CheckHeaderValue(name, value);
  }
}

bool HasHost(const NameValueList& headers) {
  return std::any_of(headers.begin(), headers.end(),
                     [](const auto& header) { return Lowercase(header.first) == "host"; });
}

// BuildCanonicalRequest assumes validated input and also returns the signed
// header names, which the Authorization header repeats.
std::string BuildCanonicalRequest(const std::string& method, const std::string& path,
                                  const NameValueList& query, const NameValueList& headers,
                                  const std::string& payload_sha256, std::string* signed_headers) {
  CanonicalHeaders canonical_headers = CanonicalizeHeaders(headers);
  std::string out;
  out += method;
  out += '\n';
  out += UriEncode(path, false);
  out += '\n';
  out += CanonicalQueryString(query);
  out += '\n';
  out += canonical_headers.block;
  out += '\n';
  out += canonical_headers.signed_headers;
  out += '\n';
  out += payload_sha256;
  *signed_headers = canonical_headers.signed_headers;
  return out;
}

void CheckRequest(const std::string& method, const std::string& path, const NameValueList& headers,
                  const std::string& payload_sha256) {
  CheckMethod(method);
  CheckPath(path);
  CheckHeaders(headers);
  if (!HasHost(headers)) {
    ThrowInvalid("S3 request to sign has no Host header");
  }
  CheckPayloadHash(payload_sha256);
}

}  // namespace

// SignV4 adds the headers S3 requires and signs them with the caller's.
SignedRequest SignV4(const HttpRequestToSign& request, const AwsCredentials& credentials,
                     const std::string& region, const std::string& service,
                     const std::string& amz_date) {
  CheckAmzDate(amz_date);
  CheckHost(request.host);
  CheckPayloadHash(request.payload_sha256);
  if (std::any_of(credentials.session_token.begin(), credentials.session_token.end(),
                  [](char c) { return IsControl(c) || c == '\t'; })) {
    ThrowInvalid("session token for S3 request signing contains a control character");
  }
  NameValueList headers;
  headers.reserve(request.headers.size() + 4);
  headers.emplace_back("Host", request.host);
  headers.emplace_back("x-amz-date", amz_date);
  headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  if (!credentials.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  for (const auto& [name, value] : request.headers) {
    CheckHeaderName(name);
    std::string lower = Lowercase(name);
    if (lower == "host" || lower == "x-amz-date" || lower == "x-amz-content-sha256" ||
        lower == "x-amz-security-token" || lower == "authorization") {
      ThrowInvalid("HTTP header \"" + name + "\" is set by the S3 request signer",
                   "Pass the host, payload hash and credentials to the signer instead.");
    }
    // Values are checked by SignV4Exact. Sent trimmed: the signature covers the trimmed value
    // anyway, and an HTTP client may or may not strip trailing blanks.
    headers.emplace_back(name, Trim(value));
  }
  return SignV4Exact(request.method, request.path, request.query, headers, request.payload_sha256,
                     credentials, region, service, amz_date);
}

// SignV4Exact signs exactly the given headers and appends Authorization.
SignedRequest SignV4Exact(const std::string& method, const std::string& path,
                          const NameValueList& query, const NameValueList& headers,
                          const std::string& payload_sha256, const AwsCredentials& credentials,
                          const std::string& region, const std::string& service,
                          const std::string& amz_date) {
  // CredentialScope checks amz_date, region and service.
  std::string scope = CredentialScope(amz_date, region, service);
  CheckRequest(method, path, headers, payload_sha256);
  CheckCredentials(credentials);

  SignedRequest signed_request;
  std::string signed_headers;
  signed_request.canonical_request =
      BuildCanonicalRequest(method, path, query, headers, payload_sha256, &signed_headers);
  signed_request.string_to_sign = StringToSign(amz_date, scope, signed_request.canonical_request);
  std::string key =
      SigningKey(credentials.secret_access_key, amz_date.substr(0, 8), region, service);
  signed_request.signature = HexEncode(HmacSha256(key, signed_request.string_to_sign));

  signed_request.target = UriEncode(path, false);
  std::string canonical_query = CanonicalQueryString(query);
  if (!canonical_query.empty()) {
    signed_request.target += '?';
    signed_request.target += canonical_query;
  }
  signed_request.headers = headers;
  // The comma-without-space form is the one S3's documentation shows; AWS
  // accepts it and ", " alike.
  signed_request.headers.emplace_back(
      "Authorization", std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                           scope + ",SignedHeaders=" + signed_headers +
                           ",Signature=" + signed_request.signature);
  return signed_request;
}

// AmzDate renders the UTC time; gmtime_r keeps it thread-safe.
std::string AmzDate(std::time_t when) {
  struct tm utc {};
  if (gmtime_r(&when, &utc) == nullptr || utc.tm_year < -1900 || utc.tm_year > 9999 - 1900) {
    ThrowInvalid("time cannot be written as an x-amz-date: " + std::to_string(when));
  }
  char buffer[32];
  size_t length = std::strftime(buffer, sizeof(buffer), "%Y%m%dT%H%M%SZ", &utc);
  std::string out(buffer, length);
  if (out.size() != 16) {
    // strftime does not pad years below 1000 to four digits everywhere.
    ThrowInvalid("time cannot be written as an x-amz-date: " + std::to_string(when));
  }
  return out;
}

// UriEncode keeps unreserved bytes and percent-encodes the rest.
std::string UriEncode(const std::string& bytes, bool encode_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (char c : bytes) {
    if (IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (c == '/' && !encode_slash)) {
      out.push_back(c);
    } else {
      auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

// CanonicalQueryString sorts the encoded pairs: sorting the raw names would
// order "a b" and "a-b" differently from the server.
std::string CanonicalQueryString(const NameValueList& query) {
  NameValueList encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, true), UriEncode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) {
      out += '&';
    }
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

// CanonicalizeHeaders uses a stable sort so that the values of a repeated
// name keep the caller's order, which the signature depends on.
CanonicalHeaders CanonicalizeHeaders(const NameValueList& headers) {
  if (headers.empty()) {
    ThrowInvalid("no HTTP headers to sign");
  }
  CheckHeaders(headers);
  NameValueList lowered;
  lowered.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    lowered.emplace_back(Lowercase(name), CanonicalHeaderValue(value));
  }
  std::stable_sort(lowered.begin(), lowered.end(),
                   [](const auto& left, const auto& right) { return left.first < right.first; });
  CanonicalHeaders out;
  for (size_t i = 0; i < lowered.size(); i++) {
    bool same_as_previous = i > 0 && lowered[i].first == lowered[i - 1].first;
    if (same_as_previous) {
      out.block.back() = ',';  // replaces the previous line's '\n'
    } else {
      if (!out.signed_headers.empty()) {
        out.signed_headers += ';';
      }
      out.signed_headers += lowered[i].first;
      out.block += lowered[i].first;
      out.block += ':';
    }
    out.block += lowered[i].second;
    out.block += '\n';
  }
  return out;
}

// CanonicalRequest validates, then assembles the six lines.
std::string CanonicalRequest(const std::string& method, const std::string& path,
                             const NameValueList& query, const NameValueList& headers,
                             const std::string& payload_sha256) {
  CheckRequest(method, path, headers, payload_sha256);
  std::string signed_headers;
  return BuildCanonicalRequest(method, path, query, headers, payload_sha256, &signed_headers);
}

// CredentialScope takes the date from amz_date so the two cannot disagree.
std::string CredentialScope(const std::string& amz_date, const std::string& region,
                            const std::string& service) {
  CheckAmzDate(amz_date);
  CheckScopePart("region", region);
  CheckScopePart("service", service);
  return amz_date.substr(0, 8) + "/" + region + "/" + service + "/aws4_request";
}

// StringToSign hashes the canonical request into the fourth line.
std::string StringToSign(const std::string& amz_date, const std::string& credential_scope,
                         const std::string& canonical_request) {
  CheckAmzDate(amz_date);
  return std::string(kAlgorithm) + "\n" + amz_date + "\n" + credential_scope + "\n" +
         Sha256Hex(canonical_request);
}

// SigningKey chains the four HMACs of the key derivation.
std::string SigningKey(const std::string& secret_access_key, const std::string& date,
                       const std::string& region, const std::string& service) {
  if (date.size() != 8 || !std::all_of(date.begin(), date.end(), IsDigit)) {
    ThrowInvalid("invalid signing date (expected YYYYMMDD): \"" + Printable(date) + "\"");
  }
  std::string date_key = HmacSha256("AWS4" + secret_access_key, date);
  std::string region_key = HmacSha256(date_key, region);
  std::string service_key = HmacSha256(region_key, service);
  return HmacSha256(service_key, "aws4_request");
}

// Sha256Hex reuses the pipeline's digest.
std::string Sha256Hex(const std::string& bytes) {
  Sha256 sha;
  sha.Update(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return sha.HexDigest();
}

// HmacSha256 uses OpenSSL's one-shot HMAC(), which OpenSSL 3 keeps.
std::string HmacSha256(const std::string& key, const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
           &length) == nullptr) {
    throw Error(ErrorKind::kInternal, "could not compute HMAC-SHA256");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

// HexEncode renders bytes as lowercase hex.
std::string HexEncode(const std::string& bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xf]);
  }
  return out;
}

}  // namespace pgbak
