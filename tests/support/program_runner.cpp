// Runs client-driver programs for integration tests: fork/exec with a timeout, output capture, /proc socket sampling.
#include "program_runner.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pgfunnel::test {

bool program_result::exited_ok() const { return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0; }

std::string program_result::describe() const {
  if (timed_out) return "killed after " + std::to_string(timeout.count()) + " s";
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

program_result run_program(const std::vector<std::string>& argv, const std::string& cwd, std::chrono::seconds timeout,
                           const std::vector<std::string>& env) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    if (::chdir(cwd.c_str()) != 0) {
      std::fprintf(stderr, "chdir %s: %s\n", cwd.c_str(), std::strerror(errno));
      ::_exit(126);
    }
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);

  program_result r;
  r.timeout = timeout;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    const ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got > 0) {
      r.output.append(buf, static_cast<size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      break;  // EOF: the program (and anything it forked) closed its output
    }
  }
  ::close(fds[0]);
  if (r.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = r.timed_out ? -1 : status;
  return r;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool has_line_starting_with(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(prefix)) return true;
  return false;
}

std::string log_excerpt(const std::string& log, size_t tail_lines) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out = "--- pgfunnel log: warn/error lines ---\n";
  for (const auto& l : lines)
    if (l.find(" warn ") != std::string::npos || l.find(" error ") != std::string::npos ||
        l.find(" critical ") != std::string::npos)
      out += l + "\n";
  const size_t from = lines.size() > tail_lines ? lines.size() - tail_lines : 0;
  out += "--- pgfunnel log: last " + std::to_string(lines.size() - from) + " of " + std::to_string(lines.size()) +
         " lines ---\n";
  for (size_t i = from; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

int upstream_connections(pid_t pid, std::uint16_t port) {
  return static_cast<int>(upstream_sockets(pid, port).size());
}

std::set<unsigned long> upstream_sockets(pid_t pid, std::uint16_t port) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::set<unsigned long> inodes;
  if (DIR* dir = ::opendir((proc + "/fd").c_str())) {
    while (const dirent* e = ::readdir(dir)) {
      char target[64] = {};
      const std::string fd = proc + "/fd/" + e->d_name;
      if (::readlink(fd.c_str(), target, sizeof target - 1) > 0 && std::strncmp(target, "socket:[", 8) == 0)
        inodes.insert(std::strtoul(target + 8, nullptr, 10));
    }
    ::closedir(dir);
  }
  std::set<unsigned long> found;
  std::ifstream tcp(proc + "/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  while (std::getline(tcp, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    std::istringstream f(line);
    std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    f >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    const auto colon = remote.find(':');
    if (colon == std::string::npos || state != "01") continue;  // 01 = ESTABLISHED
    if (std::stoul(remote.substr(colon + 1), nullptr, 16) == port && inodes.count(inode) != 0) found.insert(inode);
  }
  return found;
}

upstream_sampler::upstream_sampler(pid_t pid, std::uint16_t port)
    : thread_([this, pid, port] {
        std::set<unsigned long> previous;
        do {
          const std::set<unsigned long> now = upstream_sockets(pid, port);
          int lasting = 0;
          for (unsigned long inode : now) lasting += previous.count(inode) != 0 ? 1 : 0;
          if (lasting > max_) max_ = lasting;
          previous = now;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } while (!stop_);
      }) {}

upstream_sampler::~upstream_sampler() {
  stop_ = true;
  thread_.join();
}

}  // namespace pgfunnel::test
