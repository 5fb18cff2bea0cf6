// metrics_server.h: the launcher's optional HTTP endpoint for Prometheus.
//
// Include after postgres.h.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace pgbak {

// MetricsSocket is a descriptor the launcher waits on for the endpoint:
// readable, or writable while an answer is still being sent.
struct MetricsSocket {
  int fd;
  bool writable;
};

// MetricsServer serves GET /metrics from the launcher's main loop without
// ever blocking it: every socket is non-blocking, an answer is sent as the
// client takes it, and a connection that has not sent its request within
// 5 s, or not taken its whole answer within 10 s, is cut.
class MetricsServer {
 public:
  MetricsServer() = default;
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Configure listens on "host:port" (pgbak.metrics_listen), or on nothing
  // if empty; problems are logged and leave the endpoint off.
  void Configure(const std::string& listen);
  // CollectSockets adds the descriptors the launcher must wait on, and for
  // what.
  void CollectSockets(std::vector<MetricsSocket>& sockets) const;
  // HandleReady handles one descriptor from CollectSockets that is ready.
  void HandleReady(int fd);
  // DropExpiredClients cuts connections past their deadline.
  void DropExpiredClients();
  // MillisUntilDeadline is how long the launcher may sleep before a
  // connection's deadline passes; -1 without connections.
  long MillisUntilDeadline() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Client {
    int fd = -1;
    std::string request;
    std::string answer;  // set once the request is complete
    size_t sent = 0;     // bytes of answer handed to the kernel
    bool answering = false;
    Clock::time_point deadline;
  };
  void Read(Client& client);
  void StartAnswer(Client& client, std::string answer);
  bool Write(Client& client);
  std::string Answer(const std::string& request);
  void Close();

  int listen_fd_ = -1;
  std::string bound_;
  std::vector<Client> clients_;
};

}  // namespace pgbak
