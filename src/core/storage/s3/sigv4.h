// sigv4.h: AWS Signature Version 4 for S3 requests, as pure functions.
//
// The S3 driver signs every request itself (libcurl's own SigV4 signs the
// query as written, leaves out x-amz-content-sha256 and mis-signs
// "?uploads"). Nothing here does I/O or reads a clock: the caller passes the
// time as an x-amz-date string, so every result can be checked against
// AWS's published examples.
//
// S3 differs from the other AWS services in one place: the canonical URI is
// the path encoded once, with no dot-segment normalisation and no second
// round of encoding. SignV4 implements the S3 rule only.
#pragma once

#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace pgbak {

// NameValueList is an ordered list of (name, value) pairs: query parameters
// or HTTP header fields. Order matters only for duplicate header names,
// whose values are signed in the order given.
using NameValueList = std::vector<std::pair<std::string, std::string>>;

// AwsCredentials is what a request is signed with.
struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional; when set, sent and signed as x-amz-security-token
};

// HttpRequestToSign describes one request before signing. Everything is raw:
// SignV4 does all encoding.
struct HttpRequestToSign {
  std::string method;  // "GET", "PUT", ...
  std::string host;    // value of the Host header, with ":port" when not default
  std::string path;    // raw, NOT encoded, starting with '/', e.g. "/bucket/dir/my file+x.txt"
  // Raw names and values, any order; a value may be empty ("uploads" is
  // {"uploads", ""}).
  NameValueList query;
  // Extra headers to sign and send (Range, Content-Type, Content-MD5,
  // x-amz-*), names in any case. Must not repeat the headers SignV4 adds
  // itself (Host, x-amz-date, x-amz-content-sha256, x-amz-security-token,
  // Authorization). An empty value is signed as "name:", so the HTTP client
  // must really send it (curl drops "Name:" and sends "Name;" as empty).
  NameValueList headers;
  // Lowercase hex of the body's SHA-256, or "UNSIGNED-PAYLOAD".
  std::string payload_sha256;
};

// SignedRequest is everything needed to send the request.
struct SignedRequest {
  // The encoded path, plus "?" and the canonical query if there is a query:
  // exactly what goes after the host in the URL. It is the same text that
  // was signed, so no HTTP library gets a chance to re-encode it.
  std::string target;
  // Every header to send, as ("Name", "value"): Host, x-amz-date,
  // x-amz-content-sha256, x-amz-security-token (if any), the extra headers
  // in the order given (values trimmed), and Authorization last.
  NameValueList headers;
  std::string canonical_request;  // for debugging and tests; holds no secret
  std::string string_to_sign;     // for debugging and tests; holds no secret
  std::string signature;          // 64 lowercase hex digits
};

// SignV4 signs an S3 request for the Authorization header with the payload
// hash in x-amz-content-sha256. amz_date is "YYYYMMDDTHHMMSSZ" (see
// AmzDate), region e.g. "us-east-1", service "s3". Signed headers: host,
// x-amz-content-sha256, x-amz-date, x-amz-security-token (if a session
// token is set) and every extra header.
//
// Throws Error(kInvalidParameter) for an empty or malformed method, host,
// region, service or access key id, an empty secret, a path that does not
// start with '/', a header name that is not an HTTP token or repeats a
// header SignV4 adds, a control character (CR, LF, NUL, ...) in a header
// value or the session token, a payload_sha256 that is neither 64
// lowercase hex digits nor "UNSIGNED-PAYLOAD", or a malformed amz_date.
// Error messages never contain the secret key, the session token or the
// values of extra headers (they may quote method, host, path and date).
SignedRequest SignV4(const HttpRequestToSign& request, const AwsCredentials& credentials,
                     const std::string& region, const std::string& service,
                     const std::string& amz_date);

// SignV4Exact is the signer under SignV4: it signs exactly `headers` (which
// must include Host; SignV4 adds x-amz-date and x-amz-content-sha256 before
// calling it) and adds nothing but Authorization to the returned headers.
// It exists for AWS's generic test suite, whose requests sign no
// x-amz-content-sha256. Same validation as SignV4, except that any header
// name may appear, and session_token is ignored (pass the token as a header).
SignedRequest SignV4Exact(const std::string& method, const std::string& path,
                          const NameValueList& query, const NameValueList& headers,
                          const std::string& payload_sha256, const AwsCredentials& credentials,
                          const std::string& region, const std::string& service,
                          const std::string& amz_date);

// AmzDate formats `when` in UTC as "YYYYMMDDTHHMMSSZ". Throws
// Error(kInvalidParameter) for a time outside the years 0000-9999.
std::string AmzDate(std::time_t when);

// UriEncode percent-encodes every byte except the RFC 3986 unreserved
// characters A-Z a-z 0-9 - . _ ~ as %XX with uppercase hex; '/' is kept
// unless encode_slash. A space becomes %20, never '+'; UTF-8 is encoded
// byte by byte ("é" -> "%C3%A9").
std::string UriEncode(const std::string& bytes, bool encode_slash);

// CanonicalQueryString encodes names and values with UriEncode (slash
// encoded), sorts by encoded name and then encoded value (byte order), and
// joins "name=value" with '&'; an empty value gives "name=". An empty list
// gives "".
std::string CanonicalQueryString(const NameValueList& query);

// CanonicalHeaders is the header part of a canonical request.
struct CanonicalHeaders {
  std::string block;           // "name:value\n" per distinct name, sorted by name
  std::string signed_headers;  // the names joined with ';', e.g. "host;range;x-amz-date"
};

// CanonicalizeHeaders lowercases names, trims values and collapses inner
// runs of spaces and tabs into one space, sorts by name (byte order) and
// joins the values of a repeated name with ',' in the order given. Throws
// Error(kInvalidParameter) for an empty list, a name that is not an HTTP
// token, or a control character in a value.
CanonicalHeaders CanonicalizeHeaders(const NameValueList& headers);

// CanonicalRequest assembles method, UriEncode(path, false),
// CanonicalQueryString(query), the canonical headers, the signed header
// names and payload_sha256, one per line. `path` is raw (not encoded).
// Validates method, path, headers (Host required) and payload hash as
// SignV4Exact does.
std::string CanonicalRequest(const std::string& method, const std::string& path,
                             const NameValueList& query, const NameValueList& headers,
                             const std::string& payload_sha256);

// CredentialScope is "YYYYMMDD/region/service/aws4_request" for amz_date.
std::string CredentialScope(const std::string& amz_date, const std::string& region,
                            const std::string& service);

// StringToSign is "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n"
// hex(SHA-256(canonical_request)).
std::string StringToSign(const std::string& amz_date, const std::string& credential_scope,
                         const std::string& canonical_request);

// SigningKey derives the raw 32-byte key HMAC(HMAC(HMAC(HMAC("AWS4" +
// secret, date), region), service), "aws4_request"); date is "YYYYMMDD".
// The key is valid for that day, region and service only, so a caller that
// signs many requests may cache it.
std::string SigningKey(const std::string& secret_access_key, const std::string& date,
                       const std::string& region, const std::string& service);

// Sha256Hex is the SHA-256 of bytes as 64 lowercase hex digits.
std::string Sha256Hex(const std::string& bytes);

// HmacSha256 is HMAC-SHA256(key, data) as raw 32 bytes.
std::string HmacSha256(const std::string& key, const std::string& data);

// HexEncode renders bytes as lowercase hex.
std::string HexEncode(const std::string& bytes);

}  // namespace pgbak
