// aws_credential_files_test.cpp: the AWS shared credentials and config
// files (src/core/storage/s3/aws_credential_files.cpp), read as the AWS CLI
// reads them, and the environment that says where they are.
#include "core/storage/s3/aws_credential_files.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "test_util.h"

namespace pgbak {
namespace {

constexpr char kSecretMarker[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETMARKER";

// Malformed parses text, which must be refused, and returns the error.
Error Malformed(const std::string& text, const std::string& profile = "default") {
  try {
    ParseAwsProfile(text, profile, AwsFileKind::kCredentials, "/home/pg/.aws/credentials");
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter) << error.what();
    return error;
  }
  ADD_FAILURE() << "accepted: " << text;
  return Error(ErrorKind::kInternal, "accepted");
}

// ExpectNotQuoted checks that no text of error holds secret.
void ExpectNotQuoted(const Error& error, const std::string& secret) {
  EXPECT_EQ(std::string(error.what()).find(secret), std::string::npos) << error.what();
  EXPECT_EQ(error.detail().find(secret), std::string::npos) << error.detail();
  EXPECT_EQ(error.hint().find(secret), std::string::npos) << error.hint();
}

TEST(AwsCredentialFilesTest, ReadsTheProfileAsked) {
  const std::string text =
      "# written by aws configure\n"
      "[default]\n"
      "aws_access_key_id = AKIADEFAULT\n"
      "aws_secret_access_key = defaultsecret\n"
      "\n"
      "[backup]\n"
      "aws_access_key_id=AKIABACKUP\n"
      "aws_secret_access_key=" +
      std::string(kSecretMarker) +
      "\n"
      "aws_session_token = token/with+slash=\n"
      "region = eu-west-1\n";
  AwsProfileKeys fallback = ParseAwsProfile(text, "default", AwsFileKind::kCredentials, "f");
  EXPECT_TRUE(fallback.profile_found);
  EXPECT_EQ(fallback.credentials.access_key_id, "AKIADEFAULT");
  EXPECT_EQ(fallback.credentials.secret_access_key, "defaultsecret");
  EXPECT_EQ(fallback.credentials.session_token, "");
  AwsProfileKeys backup = ParseAwsProfile(text, "backup", AwsFileKind::kCredentials, "f");
  EXPECT_TRUE(backup.profile_found);
  EXPECT_EQ(backup.credentials.access_key_id, "AKIABACKUP");
  EXPECT_EQ(backup.credentials.secret_access_key, kSecretMarker);
  EXPECT_EQ(backup.credentials.session_token, "token/with+slash=");
  AwsProfileKeys absent = ParseAwsProfile(text, "other", AwsFileKind::kCredentials, "f");
  EXPECT_FALSE(absent.profile_found);
  EXPECT_EQ(absent.credentials.access_key_id, "");
}

TEST(AwsCredentialFilesTest, FollowsConfigparserSyntax) {
  // Keys in any case, ':' as delimiter, indented comments, CRLF, white space
  // around everything, a byte order mark, '#' inside a value (no inline
  // comments), a section header with text after it.
  const std::string text =
      "\xEF\xBB\xBF"
      "; a comment\r\n"
      "[default] ; trailing text\r\n"
      "  # indented comment\r\n"
      "AWS_ACCESS_KEY_ID : AKIAUPPER  \r\n"
      "Aws_Secret_Access_Key=secret#notacomment\r\n";
  AwsProfileKeys keys = ParseAwsProfile(text, "default", AwsFileKind::kCredentials, "f");
  EXPECT_TRUE(keys.profile_found);
  EXPECT_EQ(keys.credentials.access_key_id, "AKIAUPPER");
  EXPECT_EQ(keys.credentials.secret_access_key, "secret#notacomment");
}

TEST(AwsCredentialFilesTest, SectionNamesAreExact) {
  const std::string text =
      "[Default]\naws_access_key_id = A\naws_secret_access_key = B\n"
      "[ spaced ]\naws_access_key_id = C\naws_secret_access_key = D\n";
  EXPECT_FALSE(ParseAwsProfile(text, "default", AwsFileKind::kCredentials, "f").profile_found);
  EXPECT_TRUE(ParseAwsProfile(text, "Default", AwsFileKind::kCredentials, "f").profile_found);
  EXPECT_TRUE(ParseAwsProfile(text, " spaced ", AwsFileKind::kCredentials, "f").profile_found);
}

TEST(AwsCredentialFilesTest, ConfigFileNamesProfilesWithAPrefix) {
  const std::string text =
      "[default]\n"
      "region = us-east-1\n"
      "[profile backup]\n"
      "aws_access_key_id = AKIACONFIG\n"
      "aws_secret_access_key = configsecret\n"
      "s3 =\n"
      "  max_concurrent_requests = 4\n"
      "[sso-session corp]\n"
      "sso_region = us-east-1\n"
      "[backup]\n"
      "aws_access_key_id = AKIANOTAPROFILE\n";
  AwsProfileKeys backup = ParseAwsProfile(text, "backup", AwsFileKind::kConfig, "f");
  EXPECT_TRUE(backup.profile_found);
  EXPECT_EQ(backup.credentials.access_key_id, "AKIACONFIG");
  EXPECT_EQ(backup.credentials.secret_access_key, "configsecret");
  AwsProfileKeys fallback = ParseAwsProfile(text, "default", AwsFileKind::kConfig, "f");
  EXPECT_TRUE(fallback.profile_found);
  EXPECT_EQ(fallback.credentials.access_key_id, "");
  // In the credentials file the same section names are profiles as written.
  EXPECT_EQ(
      ParseAwsProfile(text, "backup", AwsFileKind::kCredentials, "f").credentials.access_key_id,
      "AKIANOTAPROFILE");
  EXPECT_FALSE(ParseAwsProfile(text, "corp", AwsFileKind::kConfig, "f").profile_found);
}

TEST(AwsCredentialFilesTest, ContinuationLinesJoinTheValue) {
  // configparser joins them with newlines; such a value cannot sign and is
  // refused later, never cut short silently.
  AwsProfileKeys keys =
      ParseAwsProfile("[default]\naws_secret_access_key = first\n  second\naws_access_key_id = A\n",
                      "default", AwsFileKind::kCredentials, "f");
  EXPECT_EQ(keys.credentials.secret_access_key, "first\nsecond");
  EXPECT_EQ(keys.credentials.access_key_id, "A");
}

TEST(AwsCredentialFilesTest, SessionTokenAndTheOldName) {
  EXPECT_EQ(ParseAwsProfile("[default]\naws_security_token = OLD\n", "default",
                            AwsFileKind::kCredentials, "f")
                .credentials.session_token,
            "OLD");
  EXPECT_EQ(ParseAwsProfile("[default]\naws_security_token = OLD\naws_session_token = NEW\n",
                            "default", AwsFileKind::kCredentials, "f")
                .credentials.session_token,
            "NEW");
  EXPECT_EQ(ParseAwsProfile("[default]\naws_session_token = NEW\naws_security_token = OLD\n",
                            "default", AwsFileKind::kCredentials, "f")
                .credentials.session_token,
            "NEW");
}

TEST(AwsCredentialFilesTest, MalformedFilesAreRefusedWithoutQuotingThem) {
  const std::string secret_line = std::string("aws_secret_access_key ") + kSecretMarker + "\n";
  for (const std::string& text : std::vector<std::string>{
           "[default]\n" + secret_line,                                     // no delimiter
           "aws_secret_access_key = " + std::string(kSecretMarker) + "\n",  // no section
           "[default\naws_access_key_id = A\n",                             // open header
           "[]\naws_access_key_id = A\n",                                   // empty header
           "[default]\n = " + std::string(kSecretMarker) + "\n",            // no key
           "[default]\naws_access_key_id = A\n[default]\n",                 // section twice
           "[default]\naws_access_key_id = A\nAWS_ACCESS_KEY_ID = B\n",     // key twice
       }) {
    Error error = Malformed(text);
    ExpectNotQuoted(error, kSecretMarker);
    EXPECT_NE(std::string(error.what()).find("/home/pg/.aws/credentials"), std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("line "), std::string::npos) << error.what();
  }
  // Even in a profile nobody asked for: the AWS CLI refuses the whole file.
  Malformed("[default]\naws_access_key_id = A\n[other]\nnot a pair\n");
}

TEST(AwsCredentialFilesTest, FilesFromTheEnvironment) {
  std::map<std::string, std::string> variables = {{"HOME", "/var/lib/postgresql"}};
  EnvironmentLookup lookup = [&](const std::string& name) {
    auto found = variables.find(name);
    return found == variables.end() ? std::string() : found->second;
  };
  AwsSharedFiles defaults = AwsSharedFilesFromEnvironment(lookup);
  EXPECT_EQ(defaults.credentials_file, "/var/lib/postgresql/.aws/credentials");
  EXPECT_EQ(defaults.config_file, "/var/lib/postgresql/.aws/config");
  EXPECT_EQ(defaults.profile, "default");
  EXPECT_FALSE(defaults.profile_named);

  variables["AWS_SHARED_CREDENTIALS_FILE"] = "~/keys/aws";
  variables["AWS_CONFIG_FILE"] = "/etc/pgbak/aws-config";
  variables["AWS_PROFILE"] = "backup";
  AwsSharedFiles named = AwsSharedFilesFromEnvironment(lookup);
  EXPECT_EQ(named.credentials_file, "/var/lib/postgresql/keys/aws");
  EXPECT_EQ(named.config_file, "/etc/pgbak/aws-config");
  EXPECT_EQ(named.profile, "backup");
  EXPECT_TRUE(named.profile_named);

  // Without a home directory there is no default place to look.
  variables = {};
  AwsSharedFiles homeless = AwsSharedFilesFromEnvironment(lookup);
  EXPECT_EQ(homeless.credentials_file, "");
  EXPECT_EQ(homeless.config_file, "");
}

TEST(AwsCredentialFilesTest, CredentialsFileFirstThenConfig) {
  test::TempDir dir;
  AwsSharedFiles files;
  files.credentials_file = dir.Join("credentials");
  files.config_file = dir.Join("config");
  files.profile = "backup";
  // Neither file exists: no credentials, and no error.
  EXPECT_FALSE(ReadAwsSharedCredentials(files).has_value());

  test::WriteFile(files.config_file,
                  "[profile backup]\naws_access_key_id = AKIACONFIG\n"
                  "aws_secret_access_key = configsecret\n");
  std::optional<AwsCredentials> from_config = ReadAwsSharedCredentials(files);
  ASSERT_TRUE(from_config.has_value());
  EXPECT_EQ(from_config->access_key_id, "AKIACONFIG");

  // A profile without keys in the credentials file defers to the config file.
  test::WriteFile(files.credentials_file, "[backup]\nregion = eu-west-1\n");
  EXPECT_EQ(ReadAwsSharedCredentials(files)->access_key_id, "AKIACONFIG");

  test::WriteFile(files.credentials_file,
                  "[backup]\naws_access_key_id = AKIACREDS\naws_secret_access_key = credsecret\n"
                  "aws_session_token = credtoken\n");
  std::optional<AwsCredentials> from_credentials = ReadAwsSharedCredentials(files);
  ASSERT_TRUE(from_credentials.has_value());
  EXPECT_EQ(from_credentials->access_key_id, "AKIACREDS");
  EXPECT_EQ(from_credentials->secret_access_key, "credsecret");
  EXPECT_EQ(from_credentials->session_token, "credtoken");

  // /dev/null, as scripts set AWS_SHARED_CREDENTIALS_FILE to turn it off.
  files.credentials_file = "/dev/null";
  EXPECT_EQ(ReadAwsSharedCredentials(files)->access_key_id, "AKIACONFIG");
}

TEST(AwsCredentialFilesTest, HalfAPairIsRefused) {
  test::TempDir dir;
  AwsSharedFiles files;
  files.credentials_file = dir.Join("credentials");
  files.profile = "default";
  test::WriteFile(files.credentials_file,
                  "[default]\naws_secret_access_key = " + std::string(kSecretMarker) + "\n");
  try {
    ReadAwsSharedCredentials(files);
    ADD_FAILURE() << "half a pair accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("without aws_access_key_id"), std::string::npos)
        << error.what();
    ExpectNotQuoted(error, kSecretMarker);
  }
}

TEST(AwsCredentialFilesTest, ANamedProfileMustExist) {
  test::TempDir dir;
  AwsSharedFiles files;
  files.credentials_file = dir.Join("credentials");
  files.config_file = dir.Join("config");
  test::WriteFile(files.credentials_file,
                  "[default]\naws_access_key_id = A\naws_secret_access_key = B\n");
  files.profile = "typo";
  files.profile_named = true;
  try {
    ReadAwsSharedCredentials(files);
    ADD_FAILURE() << "a missing named profile was not refused";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("\"typo\" (AWS_PROFILE)"), std::string::npos)
        << error.what();
  }
  // A profile that exists without static keys (SSO, say) is no error here:
  // the caller says the storage has no credentials.
  test::WriteFile(files.config_file, "[profile typo]\nsso_session = corp\n");
  EXPECT_FALSE(ReadAwsSharedCredentials(files).has_value());
  // The default profile need not exist.
  files.profile = "default";
  files.profile_named = false;
  files.credentials_file = dir.Join("none");
  EXPECT_FALSE(ReadAwsSharedCredentials(files).has_value());
}

TEST(AwsCredentialFilesTest, UnreadableFilesAreErrors) {
  test::TempDir dir;
  AwsSharedFiles files;
  files.profile = "default";
  files.credentials_file = dir.path();  // a directory
  EXPECT_THROW(ReadAwsSharedCredentials(files), Error);
  files.credentials_file = dir.Join("big");
  test::WriteFile(files.credentials_file, "[default]\n" + std::string((1 << 20) + 1, '#'));
  EXPECT_THROW(ReadAwsSharedCredentials(files), Error);
  if (geteuid() != 0) {  // root reads anything
    files.credentials_file = dir.Join("locked");
    test::WriteFile(files.credentials_file, "[default]\n");
    ASSERT_EQ(chmod(files.credentials_file.c_str(), 0), 0);
    EXPECT_THROW(ReadAwsSharedCredentials(files), Error);
  }
}

}  // namespace
}  // namespace pgbak
