// The pgfunnel child process for integration tests: fork/exec, log capture, port discovery, teardown.
#include "pgfunnel_process.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#ifndef PGFUNNEL_BINARY_DIR
#define PGFUNNEL_BINARY_DIR "."
#endif

namespace pgfunnel::test {
namespace {

std::string executable() {
  if (const char* env = std::getenv("PGFUNNEL_EXE")) return env;
#ifdef PGFUNNEL_EXE
  return PGFUNNEL_EXE;
#else
  return std::string(PGFUNNEL_BINARY_DIR) + "/pgfunnel";
#endif
}

bool has_flag(const std::vector<std::string>& args, std::string_view flag) {
  for (const auto& a : args)
    if (a == flag || a.starts_with(std::string(flag) + "=")) return true;
  return false;
}

std::string conninfo(std::uint16_t port, std::string_view user, std::string_view password, std::string_view db) {
  std::ostringstream s;
  s << "host=127.0.0.1 port=" << port << " user=" << user << " dbname=" << db << " sslmode=disable";
  if (!password.empty()) s << " password=" << password;
  return s.str();
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

}  // namespace

void start_as_a_service_would() {
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

std::string pgfunnel_executable() { return executable(); }

pgfunnel_process::pgfunnel_process(std::vector<std::string> args) {
  static int counter = 0;
  log_path_ = std::string(PGFUNNEL_BINARY_DIR) + "/pgfunnel-test-" + std::to_string(::getpid()) + "-" +
              std::to_string(++counter) + ".log";
  if (!has_flag(args, "--listen-pooled")) args.insert(args.end(), {"--listen-pooled", "127.0.0.1:0"});
  if (!has_flag(args, "--listen-direct")) args.insert(args.end(), {"--listen-direct", "127.0.0.1:0"});
  // Never the default 0.0.0.0:9127: tests run side by side.
  if (!has_flag(args, "--listen-http")) args.insert(args.end(), {"--listen-http", "127.0.0.1:0"});
  const std::string exe = executable();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    start_as_a_service_would();
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  const std::regex pooled(R"(pooled listener \(transaction mode\) on [^ ]*:(\d+))");
  const std::regex direct(R"(direct listener \(session passthrough\) on [^ ]*:(\d+))");
  const bool want_direct = !(has_flag(args, "--listen-direct") &&
                             std::find(args.begin(), args.end(), "off") != args.end());
  const std::regex http(R"(http listener \(metrics, health\) on [^ ]*:(\d+))");
  const auto http_flag = std::find(args.begin(), args.end(), "--listen-http");
  const bool want_http = std::find(args.begin(), args.end(), "--listen-http=off") == args.end() &&
                         (http_flag == args.end() || http_flag + 1 == args.end() || http_flag[1] != "off");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = log();
    std::smatch m;
    if (std::regex_search(text, m, pooled)) pooled_port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
    if (std::regex_search(text, m, direct)) direct_port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
    if (std::regex_search(text, m, http)) http_port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
    if (pooled_port_ != 0 && (direct_port_ != 0 || !want_direct) && (http_port_ != 0 || !want_http)) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("pgfunnel exited during start-up:\n" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string text = log();
  stop();
  throw std::runtime_error("pgfunnel did not start listening within 20 s:\n" + text);
}

pgfunnel_process::~pgfunnel_process() { stop(); }

std::string pgfunnel_process::pooled_conninfo(std::string_view user, std::string_view password, std::string_view db) const {
  return conninfo(pooled_port_, user, password, db);
}
std::string pgfunnel_process::direct_conninfo(std::string_view user, std::string_view password, std::string_view db) const {
  return conninfo(direct_port_, user, password, db);
}

std::string pgfunnel_process::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool pgfunnel_process::wait_for_log(std::string_view needle, int timeout_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  do {
    if (log().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

void pgfunnel_process::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

int pgfunnel_process::wait_exit(int timeout_ms) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  do {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  return -1;
}

bool pgfunnel_process::alive() const {
  if (pid_ <= 0) return false;
  siginfo_t info{};  // WNOWAIT: look without reaping, so stop() and wait_exit() still see the status
  return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

void pgfunnel_process::stop() {
  if (pid_ <= 0) return;
  // A pgfunnel that ended before the test asked it to (SIGPIPE, a crash, an exit) fails the test
  // it ran in, whatever that test checked: no test can pass over a dead proxy.
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    ADD_FAILURE() << "pgfunnel ended before the test stopped it: " << describe_status(status) << "\n" << log();
    return;
  }
  // SIGINT: exits once no server is leased (a test's clients may still be connected; SIGTERM
  // would wait for them).
  ::kill(pid_, SIGINT);
  if (wait_exit(5000) == -1 && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

}  // namespace pgfunnel::test
