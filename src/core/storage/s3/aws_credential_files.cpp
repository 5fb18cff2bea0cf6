// aws_credential_files.cpp: the AWS shared credentials and config files.
//
// The parser follows configparser's reading of a line: a comment or a blank
// line, a continuation (indented deeper than the key it continues), a
// section header, or "key = value"; anything else spoils the whole file, as
// it does for the AWS CLI. Only the values of the wanted profile are kept.
#include "core/storage/s3/aws_credential_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kMaxFileBytes bounds what is read: real files are a few hundred bytes.
constexpr size_t kMaxFileBytes = 1 << 20;

// WipedText is text that may hold secrets: wiped before it is freed.
class WipedText {
 public:
  WipedText() = default;
  ~WipedText() { OPENSSL_cleanse(text_.data(), text_.size()); }
  WipedText(const WipedText&) = delete;
  WipedText& operator=(const WipedText&) = delete;
  std::string& text() { return text_; }

 private:
  std::string text_;
};

[[noreturn]] void Malformed(const std::string& source, size_t line, const std::string& what) {
  throw Error(ErrorKind::kInvalidParameter,
              "could not parse AWS file \"" + Printable(source) + "\": line " +
                  std::to_string(line) + " " + what,
              "", "The file is read as the AWS CLI reads it; its contents are not shown.");
}

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (IsBlank(text.front()) || text.front() == '\r'))
    text.remove_prefix(1);
  while (!text.empty() && (IsBlank(text.back()) || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

std::string Lowercase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

// ProfileOfSection is the profile a section header names, or "" if the
// section is not a profile (a config file's [sso-session x], say).
std::string ProfileOfSection(const std::string& header, AwsFileKind kind) {
  if (kind == AwsFileKind::kCredentials)
    return header;
  if (header == "default")
    return header;
  constexpr std::string_view kPrefix = "profile";
  if (header.compare(0, kPrefix.size(), kPrefix) != 0 || header.size() == kPrefix.size() ||
      !IsBlank(header[kPrefix.size()]))
    return "";
  return std::string(Trim(std::string_view(header).substr(kPrefix.size())));
}

// ReadFile reads a whole file, or returns false if it does not exist.
bool ReadFile(const std::string& path, std::string& contents) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT)
      return false;
    throw Error(ErrorKind::kInvalidParameter,
                "could not read AWS file \"" + Printable(path) + "\": " + std::strerror(errno), "",
                "It must be readable by the database server's OS user.");
  }
  char buffer[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int error = errno;
      OPENSSL_cleanse(buffer, sizeof(buffer));
      throw Error(ErrorKind::kInvalidParameter,
                  "could not read AWS file \"" + Printable(path) + "\": " + std::strerror(error));
    }
    if (n == 0)
      break;
    if (contents.size() + static_cast<size_t>(n) > kMaxFileBytes) {
      OPENSSL_cleanse(buffer, sizeof(buffer));
      throw Error(ErrorKind::kInvalidParameter,
                  "AWS file \"" + Printable(path) + "\" is larger than 1 MiB");
    }
    // Reserved up front, so that appending never moves (and leaves behind)
    // secret bytes.
    if (contents.capacity() < kMaxFileBytes)
      contents.reserve(kMaxFileBytes);
    contents.append(buffer, static_cast<size_t>(n));
  }
  OPENSSL_cleanse(buffer, sizeof(buffer));
  return true;
}

// ExpandHome replaces a leading "~/" with the home directory.
std::string ExpandHome(const std::string& path, const std::string& home) {
  if (path == "~" || path.compare(0, 2, "~/") == 0)
    return home.empty() ? path : home + path.substr(1);
  return path;
}

// ProfileFromFile reads profile from one file; a missing file has none.
AwsProfileKeys ProfileFromFile(const std::string& path, const std::string& profile,
                               AwsFileKind kind) {
  if (path.empty())
    return {};
  WipedText contents;
  if (!ReadFile(path, contents.text()))
    return {};
  return ParseAwsProfile(contents.text(), profile, kind, path);
}

// CompleteKeys returns the profile's keys if it has any, refusing half a pair.
std::optional<AwsCredentials> CompleteKeys(const AwsProfileKeys& keys, const std::string& profile,
                                           const std::string& path) {
  const AwsCredentials& found = keys.credentials;
  if (found.access_key_id.empty() && found.secret_access_key.empty())
    return std::nullopt;
  if (found.access_key_id.empty() || found.secret_access_key.empty())
    throw Error(
        ErrorKind::kInvalidParameter,
        "profile \"" + Printable(profile) + "\" of AWS file \"" + Printable(path) + "\" has " +
            (found.access_key_id.empty() ? "aws_secret_access_key without aws_access_key_id"
                                         : "aws_access_key_id without aws_secret_access_key"),
        "", "Give both keys in the same profile.");
  return found;
}

}  // namespace

AwsProfileKeys ParseAwsProfile(const std::string& text, const std::string& profile,
                               AwsFileKind kind, const std::string& source) {
  AwsProfileKeys result;
  std::set<std::string> sections_seen;
  std::set<std::string> keys_seen;  // of the current section
  bool in_section = false;
  bool wanted = false;                  // the current section is the profile asked for
  std::string* value_of_key = nullptr;  // the wanted key being continued
  bool in_value = false;                // a key was read, continuation lines may follow
  size_t key_indent = 0;

  std::string_view rest(text);
  constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
  if (rest.compare(0, kByteOrderMark.size(), kByteOrderMark) == 0)
    rest.remove_prefix(kByteOrderMark.size());
  for (size_t number = 1; !rest.empty(); number++) {
    size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    std::string_view content = Trim(line);
    size_t indent = 0;
    while (indent < line.size() && IsBlank(line[indent]))
      indent++;

    if (content.empty()) {
      in_value = false;
      continue;
    }
    if (content.front() == '#' || content.front() == ';')
      continue;
    if (in_value && indent > key_indent) {
      if (value_of_key != nullptr) {
        value_of_key->push_back('\n');
        value_of_key->append(content);
      }
      continue;
    }
    in_value = false;
    value_of_key = nullptr;
    if (content.front() == '[') {
      size_t close = content.rfind(']');
      if (close == std::string_view::npos || close < 2)
        Malformed(source, number, "is not a section header");
      std::string header(content.substr(1, close - 1));
      if (!sections_seen.insert(header).second)
        Malformed(source, number, "repeats a section");
      in_section = true;
      keys_seen.clear();
      wanted = ProfileOfSection(header, kind) == profile;
      result.profile_found = result.profile_found || wanted;
      continue;
    }
    size_t delimiter = content.find_first_of("=:");
    if (delimiter == std::string_view::npos)
      Malformed(source, number, "is neither a section, a key = value pair nor a comment");
    std::string key = Lowercase(Trim(content.substr(0, delimiter)));
    if (key.empty())
      Malformed(source, number,
                "has no key before its '" + std::string(1, content[delimiter]) + "'");
    if (!in_section)
      Malformed(source, number, "is outside any section");
    if (!keys_seen.insert(key).second)
      Malformed(source, number, "repeats a key of its section");
    in_value = true;
    key_indent = indent;
    if (!wanted)
      continue;
    std::string_view value = Trim(content.substr(delimiter + 1));
    if (key == "aws_access_key_id")
      value_of_key = &result.credentials.access_key_id;
    else if (key == "aws_secret_access_key")
      value_of_key = &result.credentials.secret_access_key;
    else if (key == "aws_session_token" ||
             (key == "aws_security_token" && result.credentials.session_token.empty()))
      value_of_key = &result.credentials.session_token;
    if (value_of_key != nullptr)
      value_of_key->assign(value);
  }
  return result;
}

AwsSharedFiles AwsSharedFilesFromEnvironment(const EnvironmentLookup& environment) {
  AwsSharedFiles files;
  std::string home = environment("HOME");
  std::string credentials = environment("AWS_SHARED_CREDENTIALS_FILE");
  std::string config = environment("AWS_CONFIG_FILE");
  if (credentials.empty() && !home.empty())
    credentials = "~/.aws/credentials";
  if (config.empty() && !home.empty())
    config = "~/.aws/config";
  files.credentials_file = ExpandHome(credentials, home);
  files.config_file = ExpandHome(config, home);
  files.profile = environment("AWS_PROFILE");
  files.profile_named = !files.profile.empty();
  if (files.profile.empty())
    files.profile = "default";
  return files;
}

std::optional<AwsCredentials> ReadAwsSharedCredentials(const AwsSharedFiles& files) {
  AwsProfileKeys from_credentials =
      ProfileFromFile(files.credentials_file, files.profile, AwsFileKind::kCredentials);
  if (auto keys = CompleteKeys(from_credentials, files.profile, files.credentials_file))
    return keys;
  AwsProfileKeys from_config =
      ProfileFromFile(files.config_file, files.profile, AwsFileKind::kConfig);
  if (auto keys = CompleteKeys(from_config, files.profile, files.config_file))
    return keys;
  if (files.profile_named && !from_credentials.profile_found && !from_config.profile_found)
    throw Error(ErrorKind::kInvalidParameter,
                "AWS profile \"" + Printable(files.profile) + "\" (AWS_PROFILE) is not in \"" +
                    Printable(files.credentials_file) + "\" nor in \"" +
                    Printable(files.config_file) + "\"",
                "", "Add the profile, or unset AWS_PROFILE in the server's environment.");
  return std::nullopt;
}

}  // namespace pgbak
