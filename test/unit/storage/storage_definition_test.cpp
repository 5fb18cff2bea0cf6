// storage_definition_test.cpp: checking storage definitions and splitting
// them into public and secret options (src/core/storage_definition.cpp), and
// the driver settings rebuilt from a stored definition and the server's
// environment.
#include "core/storage/storage_definition.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/base/error.h"
#include "core/base/json.h"
#include "test_util.h"

namespace pgbak {
namespace {

constexpr char kKeyId[] = "AKIAIOSFODNN7EXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr char kToken[] = "FwoGZXIvYXdzEXAMPLETOKENvalue+/=";

// Refusal runs call, which must throw a kInvalidParameter Error with a
// message and a hint, and returns that error.
Error Refusal(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter) << error.what();
    EXPECT_NE(std::string(error.what()), "");
    return error;
  }
  ADD_FAILURE() << "no error was thrown";
  return Error(ErrorKind::kInternal, "no error was thrown");
}

// ParseRefusal is Refusal for ParseStorageDefinition.
Error ParseRefusal(const std::string& url, const std::string& options) {
  return Refusal([&] { ParseStorageDefinition("s3", url, options); });
}

// ExpectHint checks that the error carries a hint containing text.
void ExpectHint(const Error& error, const std::string& text) {
  EXPECT_NE(error.hint().find(text), std::string::npos)
      << "hint \"" << error.hint() << "\" lacks \"" << text << "\" (" << error.what() << ")";
}

// ExpectNoSecretIn checks every text of error for secret.
void ExpectNoSecretIn(const Error& error, const std::string& secret) {
  EXPECT_EQ(std::string(error.what()).find(secret), std::string::npos) << error.what();
  EXPECT_EQ(error.detail().find(secret), std::string::npos) << error.detail();
  EXPECT_EQ(error.hint().find(secret), std::string::npos) << error.hint();
}

// Credentials is a JSON fragment with a complete, valid key pair.
std::string Credentials() {
  return std::string(R"("access_key_id": ")") + kKeyId + R"(", "secret_access_key": ")" + kSecret +
         "\"";
}

// Member returns the JSON text of options' member key ("" if absent).
std::string Member(const std::string& options, const std::string& key) {
  json::Value object = json::Parse(options);
  const json::Value* value = object.Find(key);
  return value == nullptr ? "" : value->Serialize();
}

// --- CheckStorageName ----------------------------------------------------

TEST(StorageDefinitionTest, StorageNamesAccepted) {
  for (const std::string& name :
       std::vector<std::string>{"s3", "a", "0", "prod-backups", "minio_local", "9lives", "locals",
                                "local2", std::string(63, 'x')}) {
    EXPECT_NO_THROW(CheckStorageName(name)) << name;
  }
}

TEST(StorageDefinitionTest, StorageNamesRefused) {
  for (const std::string& name :
       std::vector<std::string>{"", "-s3", "_s3", "S3", "Prod", "my storage", "a.b", "a/b",
                                "caf\xC3\xA9", "a\nb", std::string(64, 'x')}) {
    Error error = Refusal([&] { CheckStorageName(name); });
    ExpectHint(error, "lowercase letters");
  }
}

TEST(StorageDefinitionTest, LocalIsReserved) {
  Error error = Refusal([] { CheckStorageName("local"); });
  EXPECT_NE(std::string(error.what()).find("built in"), std::string::npos) << error.what();
  ExpectHint(error, "pgbak.local_path");
  Refusal([] { ParseStorageDefinition("local", "s3://bucket", ""); });
  Refusal([] { ParseStorageDefinition("Bad Name", "s3://bucket", ""); });
}

// --- URL, bucket and prefix -------------------------------------------------

TEST(StorageDefinitionTest, MinimalDefinition) {
  for (const char* options : {"", "{}", " { } "}) {
    StorageDefinition definition = ParseStorageDefinition("s3", "s3://my-bucket", options);
    EXPECT_EQ(definition.name, "s3");
    EXPECT_EQ(definition.url, "s3://my-bucket");
    EXPECT_EQ(definition.public_options, "{}");
    EXPECT_EQ(definition.secret_options, "{}");
  }
}

TEST(StorageDefinitionTest, UrlIsNormalised) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"s3://bucket", "s3://bucket"},
      {"s3://bucket/", "s3://bucket"},
      {"s3://bucket///", "s3://bucket"},
      {"s3://bucket/prod", "s3://bucket/prod"},
      {"s3://bucket/prod/", "s3://bucket/prod"},
      {"s3://bucket/prod/db1//", "s3://bucket/prod/db1"},
      {"s3://my.bucket-1/a.b/..c/d../...", "s3://my.bucket-1/a.b/..c/d../..."},
      {"s3://bucket/caf\xC3\xA9/x y", "s3://bucket/caf\xC3\xA9/x y"},
  };
  for (const auto& [url, normalised] : cases) {
    EXPECT_EQ(ParseStorageDefinition("s3", url, "").url, normalised) << url;
  }
}

TEST(StorageDefinitionTest, BadUrlsRefused) {
  for (const std::string& url : std::vector<std::string>{
           "", "bucket", "s3:/bucket", "s3:bucket", "S3://bucket",
           "https://bucket.s3.amazonaws.com/x", "s3://", "s3:///prefix", "s3:// bucket"}) {
    ParseRefusal(url, "");
  }
  Error error = ParseRefusal("gs://bucket/x", "");
  ExpectHint(error, "s3://bucket");
}

TEST(StorageDefinitionTest, BucketNamingRules) {
  for (const std::string& bucket :
       std::vector<std::string>{"abc", "my-bucket", "my.bucket", "0bucket", "bucket9", "a-b.c-d",
                                std::string(63, 'b')}) {
    EXPECT_NO_THROW(ParseStorageDefinition("s3", "s3://" + bucket + "/p", "")) << bucket;
  }
  for (const std::string& bucket : std::vector<std::string>{"ab",
                                                            "a",
                                                            std::string(64, 'b'),
                                                            "My-Bucket",
                                                            "BUCKET",
                                                            "-bucket",
                                                            "bucket-",
                                                            ".bucket",
                                                            "bucket.",
                                                            "my..bucket",
                                                            "my_bucket",
                                                            "my bucket",
                                                            "b\xC3\xBC"
                                                            "cket",
                                                            "bucket:9000",
                                                            "bucket?x=1",
                                                            "user@bucket",
                                                            "192.168.1.1",
                                                            "10.0.0.12",
                                                            "my.-bucket",
                                                            "my-.bucket"}) {
    Error error = ParseRefusal("s3://" + bucket + "/p", "");
    EXPECT_NE(std::string(error.what()).find("bucket"), std::string::npos) << error.what();
    ExpectHint(error, "3 to 63");
  }
}

TEST(StorageDefinitionTest, PrefixesThatEscapeOrConfuseAreRefused) {
  for (const std::string& url : std::vector<std::string>{
           "s3://bucket//a", "s3://bucket/a//b", "s3://bucket/.", "s3://bucket/..",
           "s3://bucket/./a", "s3://bucket/a/./b", "s3://bucket/a/..", "s3://bucket/../other",
           "s3://bucket/a/../../b"}) {
    Error error = ParseRefusal(url, "");
    EXPECT_NE(std::string(error.what()).find("prefix"), std::string::npos) << error.what();
    ExpectHint(error, "'..'");
  }
  Error control = ParseRefusal(std::string("s3://bucket/a\nb"), "");
  EXPECT_EQ(std::string(control.what()).find('\n'), std::string::npos) << control.what();
  ParseRefusal(std::string("s3://bucket/a\x7f", 14), "");
  ParseRefusal(std::string("s3://bucket/a\0b", 15), "");
  EXPECT_NO_THROW(ParseStorageDefinition("s3", "s3://bucket/" + std::string(512, 'p'), ""));
  ParseRefusal("s3://bucket/" + std::string(513, 'p'), "");
}

// --- Options --------------------------------------------------------------

TEST(StorageDefinitionTest, EveryOptionIsKeptAndSplit) {
  test::TempDir dir;
  std::string ca_file = dir.Join("ca.pem");
  test::WriteFile(ca_file, "-----BEGIN CERTIFICATE-----\n");
  std::string options = R"({"endpoint": "https://minio.example.com:9000/", "region": "eu-west-1",
      "uri_style": "virtual", "access_key_id": ")" +
                        std::string(kKeyId) + R"(", "secret_access_key": ")" + kSecret +
                        R"(", "session_token": ")" + kToken + R"(", "ca_file": ")" + ca_file +
                        R"(", "tls_verify": false, "max_upload_rate": 1048576,
      "part_size": 67108864, "concurrency": 8})";
  StorageDefinition definition = ParseStorageDefinition("minio", "s3://backups/prod/", options);
  EXPECT_EQ(definition.name, "minio");
  EXPECT_EQ(definition.url, "s3://backups/prod");

  EXPECT_EQ(Member(definition.public_options, "endpoint"), "\"https://minio.example.com:9000\"");
  EXPECT_EQ(Member(definition.public_options, "region"), "\"eu-west-1\"");
  EXPECT_EQ(Member(definition.public_options, "uri_style"), "\"virtual\"");
  EXPECT_EQ(Member(definition.public_options, "ca_file"), json::Quote(ca_file));
  EXPECT_EQ(Member(definition.public_options, "tls_verify"), "false");
  EXPECT_EQ(Member(definition.public_options, "max_upload_rate"), "1048576");
  EXPECT_EQ(Member(definition.public_options, "part_size"), "67108864");
  EXPECT_EQ(Member(definition.public_options, "concurrency"), "8");
  EXPECT_EQ(json::Parse(definition.public_options).AsObject().size(), 8u);

  EXPECT_EQ(Member(definition.secret_options, "access_key_id"), json::Quote(kKeyId));
  EXPECT_EQ(Member(definition.secret_options, "secret_access_key"), json::Quote(kSecret));
  EXPECT_EQ(Member(definition.secret_options, "session_token"), json::Quote(kToken));
  EXPECT_EQ(json::Parse(definition.secret_options).AsObject().size(), 3u);

  // Nothing secret in the part anyone may read, not even escaped.
  for (const std::string& secret :
       std::vector<std::string>{std::string(kSecret), std::string(kToken),
                                std::string("wJalrXUtnFEMI"), json::Quote(kSecret)}) {
    EXPECT_EQ(definition.public_options.find(secret), std::string::npos) << secret;
  }
  EXPECT_EQ(definition.public_options.find("secret"), std::string::npos);
  EXPECT_EQ(definition.public_options.find("token"), std::string::npos);
}

TEST(StorageDefinitionTest, CredentialsGoTogether) {
  EXPECT_NO_THROW(ParseStorageDefinition("s3", "s3://bucket", "{" + Credentials() + "}"));
  Error id_only =
      ParseRefusal("s3://bucket", std::string(R"({"access_key_id": ")") + kKeyId + "\"}");
  ExpectHint(id_only, "AWS_ACCESS_KEY_ID");
  Error secret_only =
      ParseRefusal("s3://bucket", std::string(R"({"secret_access_key": ")") + kSecret + "\"}");
  ExpectNoSecretIn(secret_only, kSecret);
  Error token_only =
      ParseRefusal("s3://bucket", std::string(R"({"session_token": ")") + kToken + "\"}");
  ExpectNoSecretIn(token_only, kToken);
  StorageDefinition with_token = ParseStorageDefinition(
      "s3", "s3://bucket", "{" + Credentials() + R"(, "session_token": ")" + kToken + "\"}");
  EXPECT_EQ(Member(with_token.secret_options, "session_token"), json::Quote(kToken));
}

TEST(StorageDefinitionTest, BadSecretValuesAreNeverShown) {
  const std::string secret = "wJalrXUtnFEMI/K7MDENG";
  // Each bad value embeds the secret; the error must name the option only.
  const std::vector<std::string> bad_values = {
      secret + " with a space", secret + "\\n",     secret + "\\u0000",
      "\\t" + secret,           secret + "\\u00e9", secret + std::string(5000, 'k'),
      secret + "\\u007f"};
  // The other members of a valid definition, for each option given badly.
  const std::map<std::string, std::string> others = {
      {"secret_access_key", std::string(R"("access_key_id": ")") + kKeyId + "\""},
      {"access_key_id", std::string(R"("secret_access_key": ")") + kSecret + "\""},
      {"session_token", Credentials()},
  };
  for (const auto& [key, other] : others) {
    for (const std::string& value : bad_values) {
      std::string options = "{" + other + R"(, ")" + key + R"(": ")" + value + "\"}";
      Error error = ParseRefusal("s3://bucket", options);
      EXPECT_NE(std::string(error.what()).find(key), std::string::npos) << error.what();
      ExpectNoSecretIn(error, secret);
      ExpectNoSecretIn(error, kSecret);
      ExpectHint(error, "not shown");
    }
  }
  Error empty = ParseRefusal("s3://bucket", std::string(R"({"access_key_id": ")") + kKeyId +
                                                R"(", "secret_access_key": ""})");
  ExpectNoSecretIn(empty, kKeyId);
}

TEST(StorageDefinitionTest, SecretsNeverAppearInOtherErrors) {
  const std::string with_secrets = "{" + Credentials() + R"(, "session_token": ")" + kToken + "\"";
  std::vector<std::string> bad_options = {
      with_secrets + R"(, "secret_acces_key": "x"})",       // unknown key
      with_secrets + R"(, "part_size": 1})",                // out of range
      with_secrets + R"(, "region": "Not A Region"})",      // bad value
      with_secrets + R"(, "endpoint": "ftp://x"})",         // bad endpoint
      with_secrets + R"(, "secret_access_key": "again"})",  // duplicate key
      with_secrets + R"(, "tls_verify": "no"})",            // wrong type
      with_secrets + R"(, })",                              // not JSON
      with_secrets,                                         // truncated JSON
      with_secrets + "}" + kSecret,                         // trailing garbage
  };
  for (const std::string& options : bad_options) {
    Error error = ParseRefusal("s3://bucket", options);
    ExpectNoSecretIn(error, kSecret);
    ExpectNoSecretIn(error, kToken);
  }
  // A secret given under a misspelt name is not echoed either.
  Error misspelt =
      ParseRefusal("s3://bucket", std::string(R"({"secret_key": ")") + kSecret + "\"}");
  ExpectNoSecretIn(misspelt, kSecret);
  // Nor one of the wrong type.
  Error wrong_type = ParseRefusal("s3://bucket", R"({"secret_access_key": ["wJalrXUtnFEMI"]})");
  ExpectNoSecretIn(wrong_type, "wJalrXUtnFEMI");
}

TEST(StorageDefinitionTest, UnknownKeysRefused) {
  for (const char* key : {"Endpoint", "secret_key", "bucket", "prefix", "part-size", ""}) {
    Error error = ParseRefusal("s3://bucket", std::string("{\"") + key + "\": \"x\"}");
    EXPECT_NE(std::string(error.what()).find("unknown storage option"), std::string::npos)
        << error.what();
    ExpectHint(error, "endpoint, region, uri_style");
  }
}

TEST(StorageDefinitionTest, OptionsMustBeAJsonObject) {
  for (const char* options : {"[]", "null", "\"s3\"", "42", "true", "{", "not json",
                              R"({"region": "eu-west-1", "region": "eu-west-2"})"}) {
    ParseRefusal("s3://bucket", options);
  }
}

TEST(StorageDefinitionTest, WrongTypesRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"endpoint", "9000"},
      {"region", "null"},
      {"uri_style", "true"},
      {"access_key_id", "12345"},
      {"secret_access_key", "{}"},
      {"session_token", "[]"},
      {"ca_file", "1"},
      {"tls_verify", "\"false\""},
      {"tls_verify", "0"},
      {"max_upload_rate", "\"1048576\""},
      {"part_size", "\"16MB\""},
      {"concurrency", "true"},
      {"concurrency", "null"},
      {"upload_memory", "\"512MB\""},
  };
  for (const auto& [key, value] : cases) {
    Error error = ParseRefusal("s3://bucket", "{\"" + key + "\": " + value + "}");
    EXPECT_NE(std::string(error.what()).find(key), std::string::npos) << error.what();
  }
  Error article = ParseRefusal("s3://bucket", R"({"region": 5})");
  EXPECT_EQ(std::string(article.what()),
            "storage option \"region\" must be a string, not a number");
}

TEST(StorageDefinitionTest, Endpoints) {
  const std::vector<std::pair<std::string, std::string>> accepted = {
      {"https://s3.eu-west-1.amazonaws.com", "https://s3.eu-west-1.amazonaws.com"},
      {"http://127.0.0.1:9000", "http://127.0.0.1:9000"},
      {"http://127.0.0.1:9000/", "http://127.0.0.1:9000"},
      {"http://localhost:9000//", "http://localhost:9000"},
      {"http://[::1]:9000", "http://[::1]:9000"},
      {"https://storage.googleapis.com", "https://storage.googleapis.com"},
  };
  for (const auto& [endpoint, stored] : accepted) {
    StorageDefinition definition = ParseStorageDefinition(
        "s3", "s3://bucket", R"({"endpoint": )" + json::Quote(endpoint) + "}");
    EXPECT_EQ(Member(definition.public_options, "endpoint"), json::Quote(stored)) << endpoint;
  }
  for (const std::string& endpoint : std::vector<std::string>{"",
                                                              "127.0.0.1:9000",
                                                              "s3.amazonaws.com",
                                                              "ftp://host",
                                                              "HTTPS://host",
                                                              "file:///etc",
                                                              "https://",
                                                              "https:///",
                                                              "https://host/path",
                                                              "https://host/bucket/",
                                                              "https://user@host",
                                                              "https://user:pw@host",
                                                              "https://host?x=1",
                                                              "https://host#f",
                                                              "https://ho st",
                                                              "https://host\n",
                                                              "http://:9000",
                                                              "http://host:",
                                                              "http://host:0",
                                                              "http://host:65536",
                                                              "http://host:90a",
                                                              "http://host:9000:1",
                                                              "http://[zz::1]:9000"}) {
    Error error = ParseRefusal("s3://bucket", R"({"endpoint": )" + json::Quote(endpoint) + "}");
    ExpectHint(error, "without a path");
  }
}

TEST(StorageDefinitionTest, Regions) {
  for (const char* region : {"us-east-1", "eu-central-2", "auto", "garage"}) {
    StorageDefinition definition = ParseStorageDefinition(
        "s3", "s3://bucket", std::string(R"({"region": ")") + region + "\"}");
    EXPECT_EQ(Member(definition.public_options, "region"), json::Quote(region));
  }
  for (const std::string& region :
       std::vector<std::string>{"", "US-EAST-1", "us east 1", "us_east_1", "us-east-1.", "eu/west",
                                std::string(65, 'r')}) {
    Error error = ParseRefusal("s3://bucket", R"({"region": )" + json::Quote(region) + "}");
    ExpectHint(error, "us-east-1");
  }
}

TEST(StorageDefinitionTest, UriStyle) {
  for (const char* style : {"path", "virtual"}) {
    StorageDefinition definition = ParseStorageDefinition(
        "s3", "s3://bucket", std::string(R"({"uri_style": ")") + style + "\"}");
    EXPECT_EQ(Member(definition.public_options, "uri_style"), json::Quote(style));
  }
  for (const char* style : {"", "Path", "vhost", "virtual-hosted"}) {
    Error error = ParseRefusal("s3://bucket", std::string(R"({"uri_style": ")") + style + "\"}");
    ExpectHint(error, "virtual:");
  }
}

TEST(StorageDefinitionTest, ServerFileUseLooksAtNamesOnly) {
  ServerFileUse none = StorageServerFileUse("s3://bucket", R"({"region": "eu-west-1"})");
  EXPECT_FALSE(none.writes);
  EXPECT_FALSE(none.reads);
  EXPECT_TRUE(StorageServerFileUse("file:///srv/backups", "{}").writes);
  EXPECT_TRUE(StorageServerFileUse("s3://bucket", R"({"ca_file": "/nonexistent"})").reads);
  EXPECT_TRUE(
      StorageServerFileUse("s3://bucket", R"({"age_identity_file": "/nonexistent"})").reads);
  // A value that looks like an option name is not one.
  EXPECT_FALSE(StorageServerFileUse("s3://bucket", R"({"region": ""ca_file""})").reads);
  // Unparsable options are ParseStorageDefinition's to refuse.
  EXPECT_FALSE(StorageServerFileUse("s3://bucket", "{not json").reads);
}

TEST(StorageDefinitionTest, ServerFileUseOfASecretFile) {
  EXPECT_TRUE(
      StorageServerFileUse("s3://bucket", R"({"secret_access_key_file": "/nonexistent"})").reads);
}

// SecretFile writes a secret_access_key_file with mode and returns its path.
std::string SecretFile(const test::TempDir& dir, const std::string& name,
                       const std::string& contents, mode_t mode = 0600) {
  std::string path = dir.Join(name);
  test::WriteFile(path, contents);
  EXPECT_EQ(chmod(path.c_str(), mode), 0);
  return path;
}

// KeyFileOptions is the options JSON of a key id with a secret file.
std::string KeyFileOptions(const std::string& path, const std::string& more = "") {
  return std::string(R"({"access_key_id": ")") + kKeyId + R"(", "secret_access_key_file": )" +
         json::Quote(path) + more + "}";
}

TEST(StorageDefinitionTest, SecretAccessKeyFile) {
  test::TempDir dir;
  for (const std::string& contents : {std::string(kSecret), std::string(kSecret) + "\n",
                                      "  " + std::string(kSecret) + "\r\n\n"}) {
    for (mode_t mode : {0600, 0400}) {
      std::string path = SecretFile(dir, "key", contents, mode);
      StorageDefinition definition =
          ParseStorageDefinition("s3", "s3://bucket", KeyFileOptions(path));
      // The path is public; the key id stays secret; the key is not stored.
      EXPECT_EQ(Member(definition.public_options, "secret_access_key_file"), json::Quote(path));
      EXPECT_EQ(Member(definition.secret_options, "access_key_id"), json::Quote(kKeyId));
      EXPECT_EQ(Member(definition.secret_options, "secret_access_key"), "");
      EXPECT_EQ(definition.public_options.find(kSecret), std::string::npos);
      EXPECT_EQ(definition.secret_options.find(kSecret), std::string::npos);
      EXPECT_EQ(ReadSecretKeyFile(path), kSecret);
      ASSERT_EQ(unlink(path.c_str()), 0);
    }
  }
}

TEST(StorageDefinitionTest, SecretAccessKeyFileRefusals) {
  test::TempDir dir;
  std::string good = SecretFile(dir, "good", kSecret);
  // Others may read or write it, or it is not a file the server can read.
  for (mode_t mode : {0640, 0604, 0620, 0660, 0644, 0610}) {
    std::string path = SecretFile(dir, "open" + std::to_string(mode), kSecret, mode);
    Error error = ParseRefusal("s3://bucket", KeyFileOptions(path));
    EXPECT_NE(std::string(error.what()).find("other users"), std::string::npos) << error.what();
    ExpectHint(error, "chmod 600");
    ExpectNoSecretIn(error, kSecret);
  }
  Error missing = ParseRefusal("s3://bucket", KeyFileOptions(dir.Join("none")));
  EXPECT_NE(std::string(missing.what()).find("not readable"), std::string::npos) << missing.what();
  Error directory = ParseRefusal("s3://bucket", KeyFileOptions(dir.path()));
  EXPECT_NE(std::string(directory.what()).find("regular file"), std::string::npos)
      << directory.what();
  for (const std::string& path : {std::string(""), std::string("key"), std::string("./key")}) {
    Error relative = ParseRefusal("s3://bucket", KeyFileOptions(path));
    EXPECT_NE(std::string(relative.what()).find("absolute"), std::string::npos) << relative.what();
  }
  // What it holds must be a key; the content is never shown.
  for (const std::string& contents :
       {std::string(""), std::string("\n"), std::string(kSecret) + " second-word",
        std::string(kSecret) + "\nsecond-line", std::string(5000, 'k'),
        std::string(9000, '\n') + kSecret}) {
    std::string path = SecretFile(dir, "bad", contents);
    Error error = ParseRefusal("s3://bucket", KeyFileOptions(path));
    EXPECT_NE(std::string(error.what()).find("secret_access_key_file"), std::string::npos)
        << error.what();
    ExpectNoSecretIn(error, kSecret);
    ExpectNoSecretIn(error, "second");
    ASSERT_EQ(unlink(path.c_str()), 0);
  }
  // It replaces secret_access_key, needs the key id, and takes no token.
  Error both = ParseRefusal("s3://bucket", KeyFileOptions(good, R"(, "secret_access_key": "x")"));
  EXPECT_NE(std::string(both.what()).find("exclude each other"), std::string::npos) << both.what();
  Error alone =
      ParseRefusal("s3://bucket", R"({"secret_access_key_file": )" + json::Quote(good) + "}");
  EXPECT_NE(std::string(alone.what()).find("go together"), std::string::npos) << alone.what();
  Error token = ParseRefusal("s3://bucket", KeyFileOptions(good, R"(, "session_token": "T")"));
  ExpectHint(token, "AWS credentials file");
  Error local = Refusal([&] {
    ParseStorageDefinition("d", "file:///srv/backups",
                           R"({"secret_access_key_file": )" + json::Quote(good) + "}");
  });
  ExpectHint(local, "age_recipients");
}

TEST(StorageDefinitionTest, CaFile) {
  test::TempDir dir;
  std::string readable = dir.Join("bundle.crt");
  test::WriteFile(readable, "-----BEGIN CERTIFICATE-----\n");
  std::vector<std::string> files = {readable};
  if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
    files.push_back("/etc/ssl/certs/ca-certificates.crt");
  }
  for (const std::string& file : files) {
    StorageDefinition definition =
        ParseStorageDefinition("s3", "s3://bucket", R"({"ca_file": )" + json::Quote(file) + "}");
    EXPECT_EQ(Member(definition.public_options, "ca_file"), json::Quote(file));
  }
  for (const std::string& file :
       std::vector<std::string>{"", "bundle.crt", "./bundle.crt", "~/bundle.crt"}) {
    Error error = ParseRefusal("s3://bucket", R"({"ca_file": )" + json::Quote(file) + "}");
    EXPECT_NE(std::string(error.what()).find("absolute"), std::string::npos) << error.what();
  }
  Error missing =
      ParseRefusal("s3://bucket", R"({"ca_file": )" + json::Quote(dir.Join("none.crt")) + "}");
  EXPECT_NE(std::string(missing.what()).find("not readable"), std::string::npos) << missing.what();
  ExpectHint(missing, "database server");
  Error directory = ParseRefusal("s3://bucket", R"({"ca_file": )" + json::Quote(dir.path()) + "}");
  EXPECT_NE(std::string(directory.what()).find("not readable"), std::string::npos)
      << directory.what();
}

TEST(StorageDefinitionTest, TlsVerify) {
  EXPECT_EQ(
      Member(ParseStorageDefinition("s3", "s3://bucket", R"({"tls_verify": true})").public_options,
             "tls_verify"),
      "true");
  EXPECT_EQ(
      Member(ParseStorageDefinition("s3", "s3://bucket", R"({"tls_verify": false})").public_options,
             "tls_verify"),
      "false");
}

// ExpectIntegerRange checks that key accepts min and max and refuses values
// just outside, non-integral numbers and strings, with hint in every error.
void ExpectIntegerRange(const std::string& key, int64_t min, int64_t max, const std::string& hint) {
  for (int64_t good : {min, max}) {
    std::string options = "{\"" + key + "\": " + std::to_string(good) + "}";
    StorageDefinition definition = ParseStorageDefinition("s3", "s3://bucket", options);
    EXPECT_EQ(Member(definition.public_options, key), std::to_string(good)) << options;
  }
  for (const std::string& bad : std::vector<std::string>{
           std::to_string(min - 1), std::to_string(max + 1), std::to_string(min) + ".5",
           std::string("-1"), std::string("1e300"), "\"" + std::to_string(min) + "\""}) {
    std::string options = "{\"" + key + "\": " + bad + "}";
    Error error = ParseRefusal("s3://bucket", options);
    EXPECT_NE(std::string(error.what()).find(key), std::string::npos) << error.what();
    if (bad[0] != '"') {
      ExpectHint(error, hint);
    }
  }
}

TEST(StorageDefinitionTest, MaxUploadRate) {
  ExpectIntegerRange("max_upload_rate", 65536, int64_t(1) << 40, "bytes per second");
}

TEST(StorageDefinitionTest, PartSize) {
  ExpectIntegerRange("part_size", 5 * 1024 * 1024, 1024 * 1024 * 1024, "5 MiB");
  // An integral number written with an exponent is still a whole number.
  StorageDefinition definition =
      ParseStorageDefinition("s3", "s3://bucket", R"({"part_size": 1.6e7})");
  EXPECT_EQ(Member(definition.public_options, "part_size"), "16000000");
}

TEST(StorageDefinitionTest, Concurrency) {
  ExpectIntegerRange("concurrency", 1, 32, "1 to 32");
  ParseRefusal("s3://bucket", R"({"concurrency": 0})");
}

TEST(StorageDefinitionTest, UploadMemory) {
  ExpectIntegerRange("upload_memory", 10 * 1024 * 1024, int64_t(64) << 30, "10 MiB");
  // The budget holds the part being filled and at least one in flight.
  EXPECT_NO_THROW(ParseStorageDefinition("s3", "s3://bucket",
                                         R"({"part_size": 67108864, "upload_memory": 134217728})"));
  Error error =
      ParseRefusal("s3://bucket", R"({"part_size": 67108864, "upload_memory": 134217727})");
  EXPECT_NE(std::string(error.what()).find("part_size"), std::string::npos) << error.what();
  ExpectHint(error, "raise upload_memory to at least twice part_size");
  // Without upload_memory, any part_size is accepted: the budget follows it.
  EXPECT_NO_THROW(ParseStorageDefinition("s3", "s3://bucket", R"({"part_size": 1073741824})"));
  ExpectHint(ParseRefusal("s3://bucket", R"({"upload_memory_mb": 512})"), "upload_memory");
}

TEST(StorageDefinitionTest, ObjectLockIsStoredNormalised) {
  StorageDefinition definition = ParseStorageDefinition(
      "s3", "s3://bucket", R"({"object_lock": {"days": 30, "mode": "Compliance"}})");
  EXPECT_EQ(Member(definition.public_options, "object_lock"), R"({"mode":"compliance","days":30})");
  ObjectLock lock = ObjectLockFromDefinition(definition.public_options);
  EXPECT_EQ(lock.mode, ObjectLockMode::kCompliance);
  EXPECT_EQ(lock.days, 30);
  definition = ParseStorageDefinition("s3", "s3://bucket",
                                      R"({"object_lock": {"mode": "governance", "days": 1}})");
  lock = ObjectLockFromDefinition(definition.public_options);
  EXPECT_EQ(lock.mode, ObjectLockMode::kGovernance);
  EXPECT_EQ(lock.days, 1);
  EXPECT_FALSE(ObjectLockFromDefinition("{}").enabled());
}

TEST(StorageDefinitionTest, ObjectLockRefusals) {
  // Each refusal names what is wrong and says what object_lock takes.
  for (const auto& [options, says] : std::vector<std::pair<std::string, std::string>>{
           {R"({"object_lock": {"mode": "legal-hold", "days": 7}})", "\"legal-hold\""},
           {R"({"object_lock": {"mode": "", "days": 7}})", "object_lock.mode"},
           {R"({"object_lock": {"mode": 1, "days": 7}})", "must be a string"},
           {R"({"object_lock": {"mode": "governance", "days": 0}})", "out of range: 0"},
           {R"({"object_lock": {"mode": "governance", "days": -3}})", "out of range: -3"},
           {R"({"object_lock": {"mode": "governance", "days": 1.5}})", "whole number"},
           {R"({"object_lock": {"mode": "governance", "days": "7"}})", "must be a number"},
           {R"({"object_lock": {"mode": "governance", "days": 36501}})", "out of range: 36501"},
           {R"({"object_lock": {"mode": "governance", "days": 1e12}})", "out of range"},
           {R"({"object_lock": {"mode": "governance", "days": 1e300}})", "whole number"},
           {R"({"object_lock": {"mode": "governance"}})", "needs \"days\""},
           {R"({"object_lock": {"days": 7}})", "needs \"mode\""},
           {R"({"object_lock": {"mode": "governance", "days": 7, "years": 1}})", "\"years\""},
           {R"({"object_lock": "governance"})", "must be an object"},
           {R"({"object_lock": null})", "must be an object"},
       }) {
    Error error = ParseRefusal("s3://bucket", options);
    EXPECT_NE(std::string(error.what()).find(says), std::string::npos)
        << options << ": " << error.what();
    EXPECT_NE(error.hint(), "") << options;
  }
  EXPECT_NO_THROW(ParseStorageDefinition(
      "s3", "s3://bucket", R"({"object_lock": {"mode": "governance", "days": 36500}})"));
  // A directory storage has no lock to offer.
  Error local =
      ParseRefusal("file:///srv/backups", R"({"object_lock": {"mode": "governance", "days": 7}})");
  EXPECT_NE(std::string(local.what()).find("needs an S3 storage"), std::string::npos)
      << local.what();
  ExpectHint(ParseRefusal("s3://bucket", R"({"objectlock": {}})"), "object_lock");
}

// --- SettingsFromDefinition ---------------------------------------------------

// manual_retention is stored as seconds (or "off") for S3 and file://
// storages alike; anything else is refused naming the option, with a hint.
TEST(StorageDefinitionTest, ManualRetention) {
  for (const char* url : {"s3://bucket", "file:///srv/backups"}) {
    auto stored = [&](const std::string& value) {
      StorageDefinition definition =
          ParseStorageDefinition("s3", url, "{\"manual_retention\": " + value + "}");
      return Member(definition.public_options, "manual_retention");
    };
    EXPECT_EQ(stored(R"("7 days")"), "604800");
    EXPECT_EQ(stored(R"(" 2 Weeks ")"), "1209600");
    EXPECT_EQ(stored("3600"), "3600");
    EXPECT_EQ(stored(R"("off")"), R"("off")");
    EXPECT_EQ(stored(R"("100 years")"), "3153600000");
  }
  for (const std::string bad :
       {R"("-1 days")", "-5", "0", R"("0 days")", R"("101 years")", "3153600001",
        R"("99999999999999999999 years")", R"("soon")", R"("7 fortnights")", R"("")", R"("OFF")",
        "1.5", "true", "null", R"(["7 days"])", R"({"days": 7})"}) {
    Error error = ParseRefusal("s3://bucket", "{\"manual_retention\": " + bad + "}");
    EXPECT_NE(std::string(error.what()).find("manual_retention"), std::string::npos)
        << error.what();
    ExpectHint(error, "whole number of seconds");
  }
}

// FakeEnvironment answers lookups from a map and records the names asked.
struct FakeEnvironment {
  std::map<std::string, std::string> variables;
  std::vector<std::string> asked;

  EnvironmentLookup Lookup() {
    return [this](const std::string& name) {
      asked.push_back(name);
      auto found = variables.find(name);
      return found == variables.end() ? std::string() : found->second;
    };
  }
};

std::string SecretOptions() {
  return "{" + Credentials() + "}";
}

TEST(StorageDefinitionTest, SettingsDefaultToAwsInUsEast1) {
  FakeEnvironment environment;
  S3Settings settings =
      SettingsFromDefinition("s3://backups", "{}", SecretOptions(), environment.Lookup());
  EXPECT_EQ(settings.bucket, "backups");
  EXPECT_EQ(settings.prefix, "");
  EXPECT_EQ(settings.region, "us-east-1");
  EXPECT_EQ(settings.endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_FALSE(settings.path_style);
  EXPECT_TRUE(settings.tls.verify);
  EXPECT_EQ(settings.tls.ca_file, "");
  EXPECT_EQ(settings.max_upload_rate, 0u);
  EXPECT_EQ(settings.part_size, kDefaultPartSize);
  EXPECT_EQ(settings.concurrency, kDefaultConcurrency);
  EXPECT_EQ(settings.upload_memory, 0u);  // unset: EffectiveUploadMemory's default
  EXPECT_EQ(settings.credentials.access_key_id, kKeyId);
  EXPECT_EQ(settings.credentials.secret_access_key, kSecret);
  EXPECT_EQ(settings.credentials.session_token, "");
  // Stored credentials win: the environment is not asked for any.
  for (const std::string& name : environment.asked) {
    EXPECT_EQ(name.find("KEY"), std::string::npos) << name;
    EXPECT_EQ(name.find("TOKEN"), std::string::npos) << name;
  }
}

TEST(StorageDefinitionTest, SettingsRegionPicksTheAwsEndpoint) {
  FakeEnvironment environment;
  environment.variables["AWS_REGION"] = "ap-southeast-2";
  S3Settings settings = SettingsFromDefinition("s3://backups/prod/db1", R"({"region":"eu-west-3"})",
                                               SecretOptions(), environment.Lookup());
  EXPECT_EQ(settings.prefix, "prod/db1");
  EXPECT_EQ(settings.region, "eu-west-3");
  EXPECT_EQ(settings.endpoint, "https://s3.eu-west-3.amazonaws.com");
  EXPECT_FALSE(settings.path_style);

  S3Settings from_environment =
      SettingsFromDefinition("s3://backups", "{}", SecretOptions(), environment.Lookup());
  EXPECT_EQ(from_environment.region, "ap-southeast-2");
  EXPECT_EQ(from_environment.endpoint, "https://s3.ap-southeast-2.amazonaws.com");

  S3Settings path_style = SettingsFromDefinition("s3://backups", R"({"uri_style":"path"})",
                                                 SecretOptions(), environment.Lookup());
  EXPECT_TRUE(path_style.path_style);
  EXPECT_EQ(path_style.endpoint, "https://s3.ap-southeast-2.amazonaws.com");
}

TEST(StorageDefinitionTest, SettingsCustomEndpointUsesPathStyle) {
  FakeEnvironment environment;
  S3Settings settings =
      SettingsFromDefinition("s3://backups", R"({"endpoint":"http://127.0.0.1:9000"})",
                             SecretOptions(), environment.Lookup());
  EXPECT_EQ(settings.endpoint, "http://127.0.0.1:9000");
  EXPECT_TRUE(settings.path_style);
  EXPECT_EQ(settings.region, "us-east-1");

  S3Settings path = SettingsFromDefinition(
      "s3://backups", R"({"endpoint":"http://127.0.0.1:9000","uri_style":"path"})", SecretOptions(),
      environment.Lookup());
  EXPECT_TRUE(path.path_style);

  S3Settings virtual_style = SettingsFromDefinition(
      "s3://backups", R"({"endpoint":"https://minio.example.com","uri_style":"virtual"})",
      SecretOptions(), environment.Lookup());
  EXPECT_FALSE(virtual_style.path_style);
  EXPECT_EQ(virtual_style.endpoint, "https://minio.example.com");
}

TEST(StorageDefinitionTest, SettingsFromAParsedDefinition) {
  test::TempDir dir;
  std::string ca_file = dir.Join("ca.pem");
  test::WriteFile(ca_file, "-----BEGIN CERTIFICATE-----\n");
  StorageDefinition definition = ParseStorageDefinition(
      "minio", "s3://backups/prod/",
      "{" + Credentials() + R"(, "session_token": ")" + kToken +
          R"(", "endpoint": "https://minio.internal:9000/", "region": "garage",
          "ca_file": )" +
          json::Quote(ca_file) + R"(, "tls_verify": false, "max_upload_rate": 1048576,
          "part_size": 67108864, "concurrency": 8, "upload_memory": 268435456})");
  FakeEnvironment environment;
  environment.variables = {{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                           {"AWS_SECRET_ACCESS_KEY", "ENVSECRET"},
                           {"AWS_SESSION_TOKEN", "ENVTOKEN"},
                           {"AWS_REGION", "us-west-2"}};
  S3Settings settings = SettingsFromDefinition(definition.url, definition.public_options,
                                               definition.secret_options, environment.Lookup());
  EXPECT_EQ(settings.bucket, "backups");
  EXPECT_EQ(settings.prefix, "prod");
  EXPECT_EQ(settings.endpoint, "https://minio.internal:9000");
  EXPECT_EQ(settings.region, "garage");
  EXPECT_TRUE(settings.path_style);
  EXPECT_EQ(settings.tls.ca_file, ca_file);
  EXPECT_FALSE(settings.tls.verify);
  EXPECT_EQ(settings.max_upload_rate, 1048576u);
  EXPECT_EQ(settings.part_size, 67108864u);
  EXPECT_EQ(settings.concurrency, 8);
  EXPECT_EQ(settings.upload_memory, 268435456u);
  EXPECT_EQ(settings.credentials.access_key_id, kKeyId);
  EXPECT_EQ(settings.credentials.secret_access_key, kSecret);
  EXPECT_EQ(settings.credentials.session_token, kToken);
  EXPECT_FALSE(settings.object_lock.enabled());
}

TEST(StorageDefinitionTest, SettingsCarryTheObjectLock) {
  StorageDefinition definition = ParseStorageDefinition(
      "locked", "s3://backups", R"({"object_lock": {"mode": "compliance", "days": 90}})");
  FakeEnvironment environment;
  S3Settings settings = SettingsFromDefinition(definition.url, definition.public_options,
                                               SecretOptions(), environment.Lookup());
  EXPECT_EQ(settings.object_lock.mode, ObjectLockMode::kCompliance);
  EXPECT_EQ(settings.object_lock.days, 90);
}

TEST(StorageDefinitionTest, SettingsCredentialsFromTheEnvironment) {
  FakeEnvironment environment;
  environment.variables = {{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                           {"AWS_SECRET_ACCESS_KEY", "ENVSECRET"},
                           {"AWS_SESSION_TOKEN", "ENVTOKEN"}};
  S3Settings settings = SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup());
  EXPECT_EQ(settings.credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(settings.credentials.secret_access_key, "ENVSECRET");
  EXPECT_EQ(settings.credentials.session_token, "ENVTOKEN");

  environment.variables.erase("AWS_SESSION_TOKEN");
  S3Settings without_token = SettingsFromDefinition("s3://backups", "{}", "", environment.Lookup());
  EXPECT_EQ(without_token.credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(without_token.credentials.session_token, "");

  // Stored credentials are used whole: no token from the environment is
  // mixed into them.
  environment.variables["AWS_SESSION_TOKEN"] = "ENVTOKEN";
  S3Settings stored =
      SettingsFromDefinition("s3://backups", "{}", SecretOptions(), environment.Lookup());
  EXPECT_EQ(stored.credentials.access_key_id, kKeyId);
  EXPECT_EQ(stored.credentials.secret_access_key, kSecret);
  EXPECT_EQ(stored.credentials.session_token, "");
}

TEST(StorageDefinitionTest, SettingsRegionFromTheEnvironmentIsChecked) {
  FakeEnvironment environment;
  environment.variables = {{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                           {"AWS_SECRET_ACCESS_KEY", "ENVSECRET"},
                           {"AWS_REGION", "eu-west-3"}};
  S3Settings settings = SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup());
  EXPECT_EQ(settings.endpoint, "https://s3.eu-west-3.amazonaws.com");
  // The region becomes part of a host name: it must not redirect requests.
  environment.variables["AWS_REGION"] = "evil.example/x?";
  Refusal([&] { SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup()); });
}

TEST(StorageDefinitionTest, SettingsWithoutCredentialsRefused) {
  for (const std::map<std::string, std::string>& variables :
       std::vector<std::map<std::string, std::string>>{
           {},
           {{"AWS_ACCESS_KEY_ID", "ENVKEY"}},
           {{"AWS_SECRET_ACCESS_KEY", "ENVSECRET"}},
           {{"AWS_SESSION_TOKEN", "ENVTOKEN"}, {"AWS_REGION", "eu-west-1"}}}) {
    FakeEnvironment environment;
    environment.variables = variables;
    Error error =
        Refusal([&] { SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup()); });
    ExpectHint(error, "AWS_ACCESS_KEY_ID");
    ExpectHint(error, "access_key_id");
    ExpectNoSecretIn(error, "ENVSECRET");
  }
}

TEST(StorageDefinitionTest, SettingsReadTheSecretFileAtEveryUse) {
  test::TempDir dir;
  std::string path = SecretFile(dir, "key", std::string(kSecret) + "\n");
  StorageDefinition definition = ParseStorageDefinition("s3", "s3://backups", KeyFileOptions(path));
  FakeEnvironment environment;
  environment.variables = {{"AWS_ACCESS_KEY_ID", "ENVKEY"}, {"AWS_SECRET_ACCESS_KEY", "ENVSECRET"}};
  S3Settings settings = SettingsFromDefinition(definition.url, definition.public_options,
                                               definition.secret_options, environment.Lookup());
  EXPECT_EQ(settings.credentials.access_key_id, kKeyId);
  EXPECT_EQ(settings.credentials.secret_access_key, kSecret);
  EXPECT_EQ(settings.credentials.session_token, "");
  // A rotated key is used from the next operation on.
  SecretFile(dir, "key", "rotatedSECRET\n");
  EXPECT_EQ(SettingsFromDefinition(definition.url, definition.public_options,
                                   definition.secret_options, environment.Lookup())
                .credentials.secret_access_key,
            "rotatedSECRET");
  // A file opened up to others since is refused then too.
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  Error opened = Refusal([&] {
    SettingsFromDefinition(definition.url, definition.public_options, definition.secret_options,
                           environment.Lookup());
  });
  ExpectNoSecretIn(opened, "rotatedSECRET");
  ASSERT_EQ(unlink(path.c_str()), 0);
  Refusal([&] {
    SettingsFromDefinition(definition.url, definition.public_options, definition.secret_options,
                           environment.Lookup());
  });
}

TEST(StorageDefinitionTest, SettingsCredentialsFromTheAwsFiles) {
  test::TempDir home;
  ASSERT_EQ(mkdir(home.Join(".aws").c_str(), 0700), 0);
  test::WriteFile(home.Join(".aws/credentials"),
                  "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n"
                  "[backup]\naws_access_key_id = BACKUPKEY\naws_secret_access_key = BACKUPSECRET\n"
                  "aws_session_token = BACKUPTOKEN\n");
  FakeEnvironment environment;
  environment.variables = {{"HOME", home.path()}};
  S3Settings settings = SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup());
  EXPECT_EQ(settings.credentials.access_key_id, "FILEKEY");
  EXPECT_EQ(settings.credentials.secret_access_key, "FILESECRET");
  EXPECT_EQ(settings.credentials.session_token, "");

  environment.variables["AWS_PROFILE"] = "backup";
  settings = SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup());
  EXPECT_EQ(settings.credentials.access_key_id, "BACKUPKEY");
  EXPECT_EQ(settings.credentials.session_token, "BACKUPTOKEN");

  // The environment's keys come first, as in the AWS SDKs, whatever the
  // profile.
  environment.variables["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  environment.variables["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  settings = SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup());
  EXPECT_EQ(settings.credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(settings.credentials.session_token, "");
  // And the storage's own keys before both.
  settings = SettingsFromDefinition("s3://backups", "{}", SecretOptions(), environment.Lookup());
  EXPECT_EQ(settings.credentials.access_key_id, kKeyId);

  // A file elsewhere, and a profile with a key that cannot sign.
  environment.variables = {{"HOME", home.path()},
                           {"AWS_SHARED_CREDENTIALS_FILE", home.Join("other")}};
  test::WriteFile(home.Join("other"),
                  "[default]\naws_access_key_id = OTHERKEY\naws_secret_access_key = two words\n");
  Error spaced =
      Refusal([&] { SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup()); });
  ExpectNoSecretIn(spaced, "two words");
  test::WriteFile(home.Join("other"),
                  "[default]\naws_access_key_id = OTHERKEY\naws_secret_access_key = OTHERSECRET\n");
  EXPECT_EQ(SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup())
                .credentials.access_key_id,
            "OTHERKEY");
}

TEST(StorageDefinitionTest, SettingsFromHalfAnEnvironmentRefused) {
  test::TempDir home;
  ASSERT_EQ(mkdir(home.Join(".aws").c_str(), 0700), 0);
  test::WriteFile(home.Join(".aws/credentials"),
                  "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n");
  // Half a key pair in the environment is a mistake to report, not a reason
  // to sign with other keys.
  FakeEnvironment environment;
  environment.variables = {{"HOME", home.path()}, {"AWS_ACCESS_KEY_ID", "ENVKEY"}};
  Error error =
      Refusal([&] { SettingsFromDefinition("s3://backups", "{}", "{}", environment.Lookup()); });
  EXPECT_NE(std::string(error.what()).find("without AWS_SECRET_ACCESS_KEY"), std::string::npos)
      << error.what();
}

TEST(StorageDefinitionTest, SettingsFromABadStoredDefinitionRefused) {
  FakeEnvironment environment;
  Refusal([&] { SettingsFromDefinition("s3://B", "{}", SecretOptions(), environment.Lookup()); });
  Refusal([&] {
    SettingsFromDefinition("s3://bucket/../x", "{}", SecretOptions(), environment.Lookup());
  });
  Refusal(
      [&] { SettingsFromDefinition("s3://bucket", "[]", SecretOptions(), environment.Lookup()); });
  Error secrets =
      Refusal([&] { SettingsFromDefinition("s3://bucket", "{}", "[1]", environment.Lookup()); });
  ExpectNoSecretIn(secrets, kSecret);
}

}  // namespace
}  // namespace pgbak
