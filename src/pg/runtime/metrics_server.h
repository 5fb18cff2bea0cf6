// metrics_server.h: the launcher's optional HTTP endpoint for Prometheus.
//
// Include after postgres.h.
#pragma once

#include <ctime>
#include <string>
#include <vector>

namespace pgbak {

// MetricsServer serves GET /metrics from the launcher's main loop.
class MetricsServer {
 public:
  MetricsServer() = default;
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Configure listens on "host:port" (pgbak.metrics_listen), or on nothing
  // if empty; problems are logged and leave the endpoint off.
  void Configure(const std::string& listen);
  // CollectFds adds the descriptors the launcher must wait on.
  void CollectFds(std::vector<int>& fds) const;
  // HandleReadable handles one readable descriptor from CollectFds.
  void HandleReadable(int fd);
  // DropStaleClients closes connections idle for too long.
  void DropStaleClients();
  bool has_clients() const { return !clients_.empty(); }

 private:
  struct Client {
    int fd;
    std::string request;
    std::time_t since;
  };
  void Answer(Client& client);
  void Close();

  int listen_fd_ = -1;
  std::string bound_;
  std::vector<Client> clients_;
};

}  // namespace pgbak
