// test_socket.h: a loopback listening socket, and the parsing of a request
// head, for tests of HTTP clients.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pgbak::test {

// ListeningSocket is a TCP socket bound to an ephemeral loopback port; with
// listen it queues connections (and accepts them only if someone calls
// accept), without it a connection is refused.
class ListeningSocket {
 public:
  explicit ListeningSocket(bool listening) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      throw std::runtime_error("socket failed");
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      throw std::runtime_error("bind failed");
    }
    if (listening && listen(fd_, 16) != 0) {
      throw std::runtime_error("listen failed");
    }
    socklen_t length = sizeof(address);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~ListeningSocket() { close(fd_); }
  ListeningSocket(const ListeningSocket&) = delete;
  ListeningSocket& operator=(const ListeningSocket&) = delete;
  int fd() const { return fd_; }
  int port() const { return port_; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// RequestHead is a request line and headers as a test server received them.
struct RequestHead {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, in order
};

// ParseRequestHead splits the text before the blank line of a request.
inline RequestHead ParseRequestHead(const std::string& head) {
  RequestHead parsed;
  size_t line_end = head.find("\r\n");
  std::string request_line = head.substr(0, line_end);
  size_t space1 = request_line.find(' ');
  size_t space2 = request_line.find(' ', space1 + 1);
  parsed.method = request_line.substr(0, space1);
  parsed.target = request_line.substr(space1 + 1, space2 - space1 - 1);
  size_t position = line_end == std::string::npos ? head.size() : line_end + 2;
  while (position < head.size()) {
    size_t next = head.find("\r\n", position);
    if (next == std::string::npos) {
      next = head.size();
    }
    std::string line = head.substr(position, next - position);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    parsed.headers.emplace_back(name, value);
    position = next + 2;
  }
  return parsed;
}

}  // namespace pgbak::test
