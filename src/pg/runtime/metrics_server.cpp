// metrics_server.cpp: the launcher's optional HTTP endpoint for Prometheus.
//
// Off by default. With pgbak.metrics_listen = 'host:port' the launcher
// listens there and answers GET /metrics with pgbak_metrics(). Scraping must
// never stall scheduling, so nothing here blocks: sockets are non-blocking
// and waited on with the launcher's latch, an answer is handed to the kernel
// only as fast as the client takes it, and every connection has a deadline
// for its request and one for its whole answer. A send timeout would not
// do: it bounds each send(), and a client that reads a little before each
// one expires keeps the sender busy for as long as it likes.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
}

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "pg/api/metrics.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/runtime/metrics_server.h"

namespace pgbak {

namespace {

constexpr size_t kMaxRequest = 8192;
constexpr size_t kMaxClients = 16;
// A client has this long to send its request once connected, and this long
// to take its whole answer once the answer is ready; Prometheus' own scrape
// timeout is 10 s by default.
constexpr std::chrono::seconds kRequestTimeout{5};
constexpr std::chrono::seconds kAnswerTimeout{10};

// LogProblem reports a problem of the endpoint in the server log.
void LogProblem(const std::string& message) {
  PgCall([&] { ereport(WARNING, (errmsg("pgbak metrics endpoint: %s", message.c_str()))); });
}

// Abort closes a connection with a reset: what the kernel still holds of
// the answer is dropped instead of being delivered at the client's pace.
void Abort(int fd) {
  struct linger reset = {1, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  close(fd);
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

// CollectSockets lists the descriptors to wait on: the listening socket
// and clients still sending their request for reading, clients being
// answered for writing.
void MetricsServer::CollectSockets(std::vector<MetricsSocket>& sockets) const {
  if (listen_fd_ >= 0)
    sockets.push_back({listen_fd_, false});
  for (const Client& client : clients_)
    sockets.push_back({client.fd, client.answering});
}

// HandleReady accepts connections, reads requests and sends answers, as far
// as each can go without waiting.
void MetricsServer::HandleReady(int fd) {
  if (fd == listen_fd_) {
    for (;;) {
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0)
        break;
      if (clients_.size() >= kMaxClients) {
        close(client);
        continue;
      }
      Client& added = clients_.emplace_back();
      added.fd = client;
      added.deadline = Clock::now() + kRequestTimeout;
    }
    return;
  }
  auto found = std::find_if(clients_.begin(), clients_.end(),
                            [fd](const Client& client) { return client.fd == fd; });
  if (found == clients_.end())
    return;
  if (!found->answering)
    Read(*found);
  if (found->answering && !Write(*found)) {
    close(found->fd);
    clients_.erase(found);
  }
}

// Read takes what the client sent; when the request is complete (or too
// large, or the client is gone) the answer is prepared.
void MetricsServer::Read(Client& client) {
  char buffer[2048];
  ssize_t n = recv(client.fd, buffer, sizeof(buffer), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n <= 0) {
    StartAnswer(client, "");  // gone before asking: nothing to send
    return;
  }
  client.request.append(buffer, static_cast<size_t>(n));
  if (client.request.find("\r\n\r\n") != std::string::npos ||
      client.request.find("\n\n") != std::string::npos)
    StartAnswer(client, Answer(client.request));
  else if (client.request.size() > kMaxRequest)
    StartAnswer(client,
                Response(431, "Request Header Fields Too Large", "text/plain", "too large\n"));
}

// StartAnswer switches the client to sending answer, with its deadline.
void MetricsServer::StartAnswer(Client& client, std::string answer) {
  client.answering = true;
  client.answer = std::move(answer);
  client.sent = 0;
  client.request.clear();
  client.deadline = Clock::now() + kAnswerTimeout;
}

// Write hands the kernel as much of the answer as it takes now; false once
// the connection is done with (all sent, or the client went away).
bool MetricsServer::Write(Client& client) {
  while (client.sent < client.answer.size()) {
    ssize_t n = send(client.fd, client.answer.data() + client.sent,
                     client.answer.size() - client.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return true;
    if (n <= 0)
      return false;
    client.sent += static_cast<size_t>(n);
  }
  return false;
}

// Answer renders the response to one complete request.
std::string MetricsServer::Answer(const std::string& request) {
  std::string line = request.substr(0, request.find_first_of("\r\n"));
  bool is_get = line.compare(0, 4, "GET ") == 0;
  std::string path = is_get ? line.substr(4, line.find(' ', 4) - 4) : "";
  if (!is_get)
    return Response(405, "Method Not Allowed", "text/plain", "GET only\n");
  if (path != "/metrics")
    return Response(404, "Not Found", "text/plain", "see /metrics\n");
  std::string body;
  Failure failure;
  CatchCore(failure, [&] { RunInTransaction([&] { body = RenderMetrics(); }); });
  if (failure.failed) {
    LogProblem(failure.message);
    return Response(500, "Internal Server Error", "text/plain", "error\n");
  }
  return Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
}

// DropExpiredClients cuts the connections past their deadline: a request
// that did not arrive in time, an answer the client did not take in time.
void MetricsServer::DropExpiredClients() {
  Clock::time_point now = Clock::now();
  auto expired = [now](const Client& client) {
    if (client.deadline > now)
      return false;
    Abort(client.fd);
    return true;
  };
  clients_.erase(std::remove_if(clients_.begin(), clients_.end(), expired), clients_.end());
}

// MillisUntilDeadline is the time left until the nearest deadline, rounded
// up so that the launcher wakes after it, not just before.
long MetricsServer::MillisUntilDeadline() const {
  if (clients_.empty())
    return -1;
  Clock::time_point nearest = clients_.front().deadline;
  for (const Client& client : clients_)
    nearest = std::min(nearest, client.deadline);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(nearest - Clock::now());
  return std::max(0L, static_cast<long>(left.count()) + 1);
}

}  // namespace pgbak
