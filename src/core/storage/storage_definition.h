// storage_definition.h: validation of pgbak_storage_add()'s arguments and
// the settings a worker builds from the stored definition.
//
// A definition is split in two on the way in: the public part (URL and
// options anyone allowed to see storages may read) and the secret part
// (access_key_id, secret_access_key, session_token: the key id is not
// secret in itself, but it names the account), stored where only the extension's
// owner can read it. Nothing secret ever reaches a message: errors about a
// secret name the option, never its value. A secret that should never be
// SQL text at all stays in a server file (secret_access_key_file, whose path
// is public) or in the server's environment and AWS files.
#pragma once

#include <functional>
#include <string>

#include <vector>

#include "core/crypto/age.h"
#include "core/storage/s3/aws_credential_files.h"
#include "core/storage/s3/object_lock.h"
#include "core/storage/s3/s3_storage.h"

namespace pgbak {

// StorageDefinition is a checked definition in its stored form.
struct StorageDefinition {
  std::string name;
  std::string url;             // normalised: s3://bucket or s3://bucket/prefix
  std::string public_options;  // JSON object, no secrets
  std::string secret_options;  // JSON object, "{}" if none
};

// CheckStorageName accepts 1 to 63 of [a-z0-9_-], starting with a letter or
// digit; "local" is the embedded storage and cannot be redefined.
void CheckStorageName(const std::string& name);

// ParseStorageDefinition checks a user's definition (options is JSON text)
// and throws kInvalidParameter with a hint for anything wrong: unknown keys,
// bad URL or bucket name, bad endpoint, part_size below 5 MiB or above half
// of upload_memory, an object_lock that is not {"mode": "governance" |
// "compliance", "days": 1 to 36500} or is given to a file:// storage, and so
// on.
StorageDefinition ParseStorageDefinition(const std::string& name, const std::string& url,
                                         const std::string& options);

// ServerFileUse says which of the server's files a definition would touch:
// a file:// storage writes below its directory; age_identity_file, ca_file
// and secret_access_key_file are read. It only looks at the URL and option names (nothing is
// opened), so that privileges can be checked first; unparsable options
// touch nothing here and are refused by ParseStorageDefinition.
struct ServerFileUse {
  bool writes = false;
  bool reads = false;
};
ServerFileUse StorageServerFileUse(const std::string& url, const std::string& options);

// IsLocalUrl says whether url is a directory storage (file:///path);
// LocalPathFromUrl is its checked, absolute path.
bool IsLocalUrl(const std::string& url);
std::string LocalPathFromUrl(const std::string& url);

// EncryptionSettings is how a storage encrypts: to age_recipients (none:
// not encrypted), and the server-side age_identity_file that decrypts for
// verify and restore (empty: this server cannot decrypt what it wrote).
struct EncryptionSettings {
  std::vector<std::string> recipients;  // "age1..."
  std::string identity_file;
  bool enabled() const { return !recipients.empty(); }
};
EncryptionSettings EncryptionFromDefinition(const std::string& public_options);

// ObjectLockFromDefinition is a storage's object_lock (disabled when it has
// none), from its stored public options.
ObjectLock ObjectLockFromDefinition(const std::string& public_options);

// ReadAgeIdentityFile reads and parses an identity file; the file's text is
// wiped from memory after parsing and never quoted in an error.
std::vector<AgeIdentity> ReadAgeIdentityFile(const std::string& path);

// ReadSecretKeyFile reads the secret access key from the file of
// secret_access_key_file: an absolute path to a regular file that only its
// owner may read or write (0600 or 0400), holding one printable ASCII word
// (surrounding white space and a final newline are ignored). The file's
// bytes are wiped from memory once read and never quoted in an error.
std::string ReadSecretKeyFile(const std::string& path);

// SettingsFromDefinition rebuilds the driver settings from a stored
// definition. Credentials come from the first of these that has any: the
// definition (access_key_id with secret_access_key, or with
// secret_access_key_file, read now); the server's AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the AWS shared credentials
// and config files of the server's OS user (aws_credential_files.h).
// Without any, it throws with a hint.
S3Settings SettingsFromDefinition(const std::string& url, const std::string& public_options,
                                  const std::string& secret_options,
                                  const EnvironmentLookup& environment);

}  // namespace pgbak
