// metrics_server.cpp: the launcher's optional HTTP endpoint for Prometheus.
//
// Off by default. With pgbak.metrics_listen = 'host:port' the launcher
// listens there and answers GET /metrics with pgbak_metrics(). Sockets are
// non-blocking and waited on with the launcher's latch, requests are bounded
// in size and time, and a slow client is dropped, so scraping can never stall
// scheduling.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
}

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "pg/api/metrics.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/runtime/metrics_server.h"

namespace pgbak {

namespace {

constexpr size_t kMaxRequest = 8192;
constexpr std::time_t kClientTimeoutSeconds = 5;
constexpr size_t kMaxClients = 16;

// LogProblem reports a problem of the endpoint in the server log.
void LogProblem(const std::string& message) {
  PgCall([&] { ereport(WARNING, (errmsg("pgbak metrics endpoint: %s", message.c_str()))); });
}

// SendAll writes a whole response, waiting at most a moment for a slow
// reader (the socket has a send timeout); returns false if it could not.
bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Response renders an HTTP/1.0 response that closes the connection.
std::string Response(int code, const char* reason, const char* type, const std::string& body) {
  return "HTTP/1.0 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

}  // namespace

// ~MetricsServer closes every socket.
MetricsServer::~MetricsServer() {
  Close();
}

// Close stops listening and drops the clients.
void MetricsServer::Close() {
  for (const Client& client : clients_)
    close(client.fd);
  clients_.clear();
  if (listen_fd_ >= 0)
    close(listen_fd_);
  listen_fd_ = -1;
  bound_.clear();
}

// Configure listens on listen (host:port), or stops listening if it is empty;
// it does nothing if the address did not change.
void MetricsServer::Configure(const std::string& listen) {
  if (listen == bound_ && (listen.empty() || listen_fd_ >= 0))
    return;
  Close();
  if (listen.empty())
    return;
  bound_ = listen;
  size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "*")
    host.clear();
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  struct addrinfo* found = nullptr;
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    LogProblem("cannot resolve \"" + listen + "\": " + gai_strerror(rc));
    return;
  }
  std::string last_error = "no address";
  for (struct addrinfo* address = found; address != nullptr; address = address->ai_next) {
    int fd = socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    address->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, address->ai_addr, address->ai_addrlen) == 0 && ::listen(fd, 16) == 0) {
      listen_fd_ = fd;
      break;
    }
    last_error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) {
    LogProblem("cannot listen on \"" + listen + "\": " + last_error);
    return;
  }
  PgCall([&] {
    ereport(LOG, (errmsg("pgbak: serving metrics on http://%s/metrics", listen.c_str())));
  });
}

// CollectFds lists the descriptors to wait on.
void MetricsServer::CollectFds(std::vector<int>& fds) const {
  if (listen_fd_ >= 0)
    fds.push_back(listen_fd_);
  for (const Client& client : clients_)
    fds.push_back(client.fd);
}

// HandleReadable accepts a connection or reads from a client, and answers a
// complete request.
void MetricsServer::HandleReadable(int fd) {
  if (fd == listen_fd_) {
    for (;;) {
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0)
        break;
      if (clients_.size() >= kMaxClients) {
        close(client);
        continue;
      }
      struct timeval send_timeout = {2, 0};
      (void)setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
      clients_.push_back({client, std::string(), std::time(nullptr)});
    }
    return;
  }
  for (size_t i = 0; i < clients_.size(); i++) {
    if (clients_[i].fd != fd)
      continue;
    Client& client = clients_[i];
    char buffer[2048];
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    bool done = n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR));
    if (n > 0)
      client.request.append(buffer, static_cast<size_t>(n));
    if (client.request.find("\r\n\r\n") != std::string::npos ||
        client.request.find("\n\n") != std::string::npos) {
      Answer(client);
      done = true;
    } else if (client.request.size() > kMaxRequest) {
      SendAll(fd, Response(431, "Request Header Fields Too Large", "text/plain", "too large\n"));
      done = true;
    }
    if (done) {
      close(fd);
      clients_.erase(clients_.begin() + static_cast<long>(i));
    }
    return;
  }
}

// Answer responds to one complete request. The socket turns blocking for
// the answer so that the send timeout (2 s) applies instead of a full send
// buffer silently cutting a long response short.
void MetricsServer::Answer(Client& client) {
  int flags = fcntl(client.fd, F_GETFL);
  if (flags >= 0)
    (void)fcntl(client.fd, F_SETFL, flags & ~O_NONBLOCK);
  std::string line = client.request.substr(0, client.request.find_first_of("\r\n"));
  bool is_get = line.compare(0, 4, "GET ") == 0;
  std::string path = is_get ? line.substr(4, line.find(' ', 4) - 4) : "";
  if (!is_get) {
    SendAll(client.fd, Response(405, "Method Not Allowed", "text/plain", "GET only\n"));
    return;
  }
  if (path != "/metrics") {
    SendAll(client.fd, Response(404, "Not Found", "text/plain", "see /metrics\n"));
    return;
  }
  std::string body;
  Failure failure;
  CatchCore(failure, [&] { RunInTransaction([&] { body = RenderMetrics(); }); });
  if (failure.failed) {
    LogProblem(failure.message);
    SendAll(client.fd, Response(500, "Internal Server Error", "text/plain", "error\n"));
    return;
  }
  SendAll(client.fd, Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", body));
}

// DropStaleClients closes connections that did not send a request in time.
void MetricsServer::DropStaleClients() {
  std::time_t now = std::time(nullptr);
  for (size_t i = 0; i < clients_.size();) {
    if (now - clients_[i].since > kClientTimeoutSeconds) {
      close(clients_[i].fd);
      clients_.erase(clients_.begin() + static_cast<long>(i));
    } else {
      i++;
    }
  }
}

}  // namespace pgbak
