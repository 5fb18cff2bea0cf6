// aws_credential_files.h: static S3 credentials from the AWS shared files,
// read as the AWS CLI and SDKs read them.
//
// Two INI files belong to the server's OS user: the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), whose sections are
// profile names, and the config file (AWS_CONFIG_FILE, else ~/.aws/config),
// whose sections are "default" and "profile NAME". The profile is
// AWS_PROFILE, else "default"; for one profile the credentials file wins over
// the config file. Only static keys are read (aws_access_key_id,
// aws_secret_access_key, aws_session_token): a profile that gets credentials
// another way (role_arn, sso_session, credential_process) has none here.
//
// The INI dialect is Python's configparser as botocore uses it: full-line
// comments (# or ;, no inline comments), "key = value" or "key: value" with
// keys in any case, indented continuation lines, and a file with a line of
// any other kind, a key outside a section, or a section or key given twice
// is refused, as the AWS CLI refuses it. A file's text is wiped from memory
// once parsed, and no error ever quotes a line of it: errors name the file
// and a line number.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/storage/s3/sigv4.h"

namespace pgbak {

// EnvironmentLookup returns an environment variable ("" if unset).
using EnvironmentLookup = std::function<std::string(const std::string&)>;

// AwsFileKind says how a file names its sections.
enum class AwsFileKind {
  kCredentials,  // [NAME]
  kConfig,       // [default] and [profile NAME]
};

// AwsProfileKeys is what one file says about one profile's static keys.
struct AwsProfileKeys {
  bool profile_found = false;
  AwsCredentials credentials;  // fields the profile does not set stay empty
};

// ParseAwsProfile reads profile from the text of an AWS INI file; source
// names the file in errors. Throws kInvalidParameter for a malformed file.
AwsProfileKeys ParseAwsProfile(const std::string& text, const std::string& profile,
                               AwsFileKind kind, const std::string& source);

// AwsSharedFiles is where the files are and which profile to read.
struct AwsSharedFiles {
  std::string credentials_file;  // "" if there is no home directory to look in
  std::string config_file;
  std::string profile;         // never empty
  bool profile_named = false;  // AWS_PROFILE was set
};

// AwsSharedFilesFromEnvironment applies the AWS rules to the server's
// environment (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, AWS_PROFILE,
// HOME; a leading "~/" is the home directory).
AwsSharedFiles AwsSharedFilesFromEnvironment(const EnvironmentLookup& environment);

// ReadAwsSharedCredentials returns the profile's static keys from the
// credentials file, else from the config file; nullopt if neither has any.
// A file that does not exist counts as empty. Throws kInvalidParameter if a
// file cannot be read or parsed, if a profile has a key id without a secret
// (or the reverse), or if a profile named by AWS_PROFILE is in neither file.
std::optional<AwsCredentials> ReadAwsSharedCredentials(const AwsSharedFiles& files);

}  // namespace pgbak
