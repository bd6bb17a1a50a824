// PostgreSQL test fixture: cached initdb template, copy per server, pg_ctl start/stop, libpq queries.
#include "pg_server.hpp"

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

extern char** environ;

namespace pgfunnel::test {
namespace {

namespace fs = std::filesystem;

// Bump when the template's contents change, so an old cached template is rebuilt.
constexpr std::string_view template_version = "pgfunnel-template-v1";

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("pg_server: " + what); }

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool as_root() { return ::geteuid() == 0; }

std::string pg_bindir() {
  if (const char* dir = std::getenv("PGFUNNEL_PG_BINDIR"); dir != nullptr && *dir != '\0') return dir;
  return "/usr/lib/postgresql/15/bin";
}

// PostgreSQL refuses to run as root, so as root every pg tool runs as the "postgres" OS user.
// setpriv, unlike runuser/su, goes through no PAM session and so keeps our raised RLIMIT_NOFILE.
std::vector<std::string> as_pg(std::vector<std::string> argv) {
  if (!as_root()) return argv;
  std::vector<std::string> out{"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

struct pg_user {
  uid_t uid;
  gid_t gid;
};

pg_user postgres_user() {
  static const pg_user user = [] {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) fail("running as root but there is no 'postgres' OS user (run scripts/bootstrap)");
    return pg_user{pw->pw_uid, pw->pw_gid};
  }();
  return user;
}

// Hands a path we created as root to the postgres user; a no-op when not root.
void give_to_pg(const std::string& path) {
  if (!as_root()) return;
  const pg_user pg = postgres_user();
  if (::chown(path.c_str(), pg.uid, pg.gid) != 0) fail(errno_text("chown " + path));
}

// The children's environment: ours without PG*/locale variables (PGPORT/PGDATA would change what
// pg_ctl does; messages must be English because start() reads the log for "already in use").
std::vector<std::string> child_env() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("PG") || kv.starts_with("LC_") || kv.starts_with("LANG")) continue;
    env.emplace_back(kv);
  }
  env.emplace_back("LC_ALL=C");
  return env;
}

struct spawn_options {
  std::string cwd;   // empty: ours
  int stdin_fd = -1;  // -1: /dev/null
  int out_fd = -1;    // stdout and stderr; -1: /dev/null
  bool new_session = false;
};

// posix_spawn rather than fork: cheap in a big (ASan) process, and only syscalls happen in the
// child. closefrom(3) keeps our sockets out of the postmaster: an inherited listening socket
// would outlive the test code that closed it.
pid_t spawn(const std::vector<std::string>& argv, const spawn_options& opts) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::vector<std::string> env_strings = child_env();
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (opts.stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, opts.stdin_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  if (opts.out_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, opts.out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, opts.out_fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (!opts.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, opts.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A default SIGCHLD/SIGPIPE disposition and an empty mask, whatever the test process set.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (opts.new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);

  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    fail(errno_text("cannot run " + argv[0]));
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

struct run_result {
  int code = -1;
  std::string output;  // stdout and stderr, interleaved
  bool ok() const { return code == 0; }
};

std::string join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

run_result run(const std::vector<std::string>& argv, const std::string& cwd = {}) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail(errno_text("pipe"));
  pid_t pid = -1;
  try {
    pid = spawn(argv, {.cwd = cwd, .out_fd = fds[1]});
  } catch (...) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw;
  }
  ::close(fds[1]);
  run_result r;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      r.output.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  r.code = wait_exit(pid);
  return r;
}

void run_or_fail(const std::vector<std::string>& argv, const std::string& cwd = {}) {
  run_result r = run(argv, cwd);
  if (!r.ok()) fail(join(argv) + " exited with " + std::to_string(r.code) + ":\n" + r.output);
}

void write_file(const std::string& path, const std::string& content, bool append = false) {
  std::ofstream f(path, append ? std::ios::app : std::ios::trunc);
  f << content;
  f.close();
  if (!f) fail("cannot write " + path);
}

std::string read_file_from(const std::string& path, long long offset) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  f.seekg(offset);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

long long file_size(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<long long>(size);
}

// A value quoted for postgresql.conf: '...' with ' doubled.
std::string conf_quote(std::string_view v) {
  std::string s = "'";
  for (char ch : v) s += ch == '\'' ? std::string("''") : std::string(1, ch);
  return s + "'";
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errno_text("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string err = errno_text("bind 127.0.0.1:0");
    ::close(fd);
    fail(err);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Longest socket file name PostgreSQL creates under a server root, for the sun_path check.
constexpr std::string_view longest_socket_suffix = "/4294967295-4294967295/.s.PGSQL.65535.lock";

bool pg_can_traverse(const std::string& dir) {
  // access(X_OK) on the last component needs search permission on every ancestor too.
  return run(as_pg({"test", "-x", dir})).ok();
}

void make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) fail(errno_text("mkdir " + path));
  // mkdir's mode went through the umask; the base must be traversable by postgres whatever it is.
  ::chmod(path.c_str(), mode);
}

// Where servers live. ${PGFUNNEL_BINARY_DIR}/pgdata when PostgreSQL can reach it (as root: the
// postgres user can traverse every parent) and a socket path fits in sun_path; otherwise
// $TMPDIR/pgfunnel-test-<uid>/ (/tmp by default)/<hash of the build dir>. PGFUNNEL_TEST_PGDATA overrides both.
std::string choose_base() {
  if (const char* dir = std::getenv("PGFUNNEL_TEST_PGDATA"); dir != nullptr && *dir != '\0') {
    fs::create_directories(dir);
    return fs::absolute(dir).lexically_normal().string();
  }
  const std::string binary_dir = PGFUNNEL_BINARY_DIR;
  const std::string in_build = binary_dir + "/pgdata";
  const bool fits = in_build.size() + longest_socket_suffix.size() < sizeof(sockaddr_un::sun_path);
  if (fits && (!as_root() || pg_can_traverse(binary_dir))) {
    make_dir(in_build, 0755);
    return in_build;
  }
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a: a stable short name per build dir
  for (unsigned char ch : binary_dir) h = (h ^ ch) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  const std::string top = (fs::temp_directory_path() / ("pgfunnel-test-" + std::to_string(::geteuid()))).string();
  if (::mkdir(top.c_str(), 0755) != 0 && errno != EEXIST) fail(errno_text("mkdir " + top));
  // /tmp is shared: refuse a directory (or symlink) that someone else planted there, before
  // chmod (which follows symlinks) touches it.
  struct stat st {};
  if (::lstat(top.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    fail(top + " is not a directory owned by us");
  }
  ::chmod(top.c_str(), 0755);
  const std::string base = top + "/" + hex;
  make_dir(base, 0755);
  return base;
}

const std::string& base_dir() {
  static const std::string base = choose_base();
  return base;
}

// Serialises template creation and stale-server cleanup across parallel ctest processes (flock)
// and across threads of this process (flock locks per open file, so the mutex is belt and braces).
class base_lock {
 public:
  explicit base_lock(const std::string& base) : guard_(mutex()) {
    const std::string path = base + "/template.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(errno_text("open " + path));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) fail(errno_text("flock " + path));
    }
  }
  ~base_lock() { ::close(fd_); }
  base_lock(const base_lock&) = delete;
  base_lock& operator=(const base_lock&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  std::lock_guard<std::mutex> guard_;
  int fd_ = -1;
};

void stop_immediate(const std::string& data_dir) {
  run(as_pg({pg_bindir() + "/pg_ctl", "-D", data_dir, "-m", "immediate", "-w", "-t", "30", "stop"}));
}

// A zombie (killed, not yet reaped by init) counts as dead, though kill(pid, 0) still succeeds.
bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  const std::string stat = read_file_from("/proc/" + std::to_string(pid) + "/stat", 0);
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return !stat.empty();
  const char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

// Servers left by test processes that died without their destructor (SIGKILL, ctest timeout) and
// whose watchdog died with them: stop and delete them, once per process.
void remove_stale_servers(const std::string& base) {
  static const std::regex name(R"((\d+)-\d+)");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    const std::string leaf = entry.path().filename().string();
    std::smatch m;
    if (!entry.is_directory() || !std::regex_match(leaf, m, name)) continue;
    const pid_t pid = static_cast<pid_t>(std::stoll(m[1].str()));
    if (pid == ::getpid() || process_alive(pid)) continue;
    if (fs::exists(entry.path() / "data" / "postmaster.pid")) stop_immediate((entry.path() / "data").string());
    fs::remove_all(entry.path(), ec);
  }
}

// One initdb per build directory: initdb takes seconds, a copy of its result milliseconds.
std::string ensure_template(const std::string& base) {
  base_lock lock(base);
  static std::once_flag cleaned;
  std::call_once(cleaned, [&] { remove_stale_servers(base); });

  const std::string tmpl = base + "/template";
  const std::string marker = base + "/template.ok";
  const std::string expected = std::string(template_version) + " " + pg_bindir() + "\n";
  if (fs::exists(tmpl + "/PG_VERSION") && read_file_from(marker, 0) == expected) return tmpl;

  std::error_code ec;
  fs::remove(marker, ec);
  fs::remove_all(tmpl, ec);
  const std::string building = base + "/template.tmp";
  fs::remove_all(building, ec);
  make_dir(building, 0700);
  give_to_pg(building);
  const std::string pwfile = base + "/template.pw";
  write_file(pwfile, "postgres\n");
  ::chmod(pwfile.c_str(), 0600);
  give_to_pg(pwfile);

  const std::string initdb = pg_bindir() + "/initdb";
  if (::access(initdb.c_str(), X_OK) != 0) fail(initdb + " not found (run scripts/bootstrap)");
  run_result r = run(as_pg({initdb, "-D", building, "--auth=scram-sha-256", "--username=postgres",
                            "--pwfile=" + pwfile, "--encoding=UTF8", "--locale=C", "--no-sync",
                            "--no-instructions"}),
                     base);
  fs::remove(pwfile, ec);
  if (!r.ok()) fail("initdb failed (exit " + std::to_string(r.code) + "):\n" + r.output);

  // Trust on the socket (a back door for tests and debugging); SCRAM on TCP, which is what
  // pgfunnel and the tests' clients use.
  write_file(building + "/pg_hba.conf",
             "# pgfunnel test fixture\n"
             "local all all trust\n"
             "host  all all 127.0.0.1/32 scram-sha-256\n");
  // Durability is worthless for throwaway servers, and autovacuum would only add sessions that
  // tests counting backends have to filter out.
  write_file(building + "/postgresql.conf",
             "\n# pgfunnel test fixture\n"
             "listen_addresses = '127.0.0.1'\n"
             "password_encryption = 'scram-sha-256'\n"
             "fsync = off\n"
             "synchronous_commit = off\n"
             "full_page_writes = off\n"
             "autovacuum = off\n"
             "shared_buffers = 32MB\n"
             "log_line_prefix = '%m [%p] %q%u@%d '\n",
             /*append=*/true);
  give_to_pg(building + "/pg_hba.conf");
  give_to_pg(building + "/postgresql.conf");
  fs::rename(building, tmpl);
  write_file(marker, expected);
  return tmpl;
}

// Percent-encoding for URL userinfo and path: everything but RFC 3986 unreserved characters.
std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", ch);
      out += hex;
    }
  }
  return out;
}

// A conninfo value: bare when it can be, else '...' with \ and ' backslash-escaped.
std::string conninfo_value(std::string_view v) {
  const bool bare = !v.empty() && v.find_first_of(" \t\n\r\f\v'\\=") == std::string_view::npos;
  if (bare) return std::string(v);
  std::string s = "'";
  for (char ch : v) {
    if (ch == '\'' || ch == '\\') s += '\\';
    s += ch;
  }
  return s + "'";
}

struct conn_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

std::atomic<int> server_counter{0};

}  // namespace

void raise_nofile_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

pg_server::pg_server(pg_options opts) : opts_(std::move(opts)), owner_pid_(::getpid()) {
  raise_nofile_limit();
  if (as_root()) postgres_user();  // fail early and clearly when there is no postgres user
  const std::string& base = base_dir();
  const std::string tmpl = ensure_template(base);

  root_ = base + "/" + std::to_string(::getpid()) + "-" + std::to_string(server_counter++);
  std::error_code ec;
  fs::remove_all(root_, ec);  // a leftover of an earlier process that had our pid
  make_dir(root_, 0755);
  give_to_pg(root_);
  try {
    run_or_fail({"cp", "-a", tmpl, data_dir()});
    std::string conf = "\n# pgfunnel test fixture: this server\n";
    conf += "max_connections = " + std::to_string(opts_.max_connections) + "\n";
    conf += "unix_socket_directories = " + conf_quote(root_) + "\n";
    for (const auto& line : opts_.extra_conf) conf += line + "\n";
    write_file(data_dir() + "/postgresql.conf", conf, /*append=*/true);

    // The watchdog: a shell blocked reading a pipe whose write end only we hold. When this process
    // dies in any way (abort, SIGKILL, a ctest timeout) the read returns and it stops the server
    // and removes its directory, so no postmaster outlives a crashed test.
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail(errno_text("pipe"));
    std::vector<std::string> argv{"sh", "-c", R"(read -r _; r=$1; shift; "$@"; rm -rf -- "$r")", "sh", root_};
    for (auto& a : as_pg({pg_bindir() + "/pg_ctl", "-D", data_dir(), "-m", "immediate", "-w", "-t", "30", "stop"})) {
      argv.push_back(std::move(a));
    }
    try {
      watchdog_pid_ = spawn(argv, {.cwd = "/", .stdin_fd = fds[0], .new_session = true});
    } catch (...) {
      ::close(fds[0]);
      ::close(fds[1]);
      throw;
    }
    ::close(fds[0]);
    watchdog_fd_ = fds[1];

    // Between free_port() closing its socket and the postmaster binding, another process can take
    // the port: only that failure is retried, with a new port.
    for (int attempt = 1;; ++attempt) {
      port_ = free_port();
      try {
        start_once();
        break;
      } catch (const std::system_error&) {
        if (attempt == 5) throw;
      }
    }
  } catch (...) {
    if (watchdog_pid_ > 0) {
      ::kill(watchdog_pid_, SIGKILL);
      wait_exit(watchdog_pid_);
    }
    if (watchdog_fd_ >= 0) ::close(watchdog_fd_);
    // The directory stays for a post-mortem; remove_stale_servers() deletes it on a later run.
    throw;
  }
}

pg_server::~pg_server() {
  // A forked child (a gtest death test calling exit()) must not stop its parent's server.
  if (::getpid() != owner_pid_) return;
  bool stopped = false;
  try {
    stop();
    stopped = true;
  } catch (...) {  // a destructor must not throw
  }
  // Stopped: the watchdog has nothing left to do. Not stopped: closing the pipe sets it off (an
  // immediate stop, then the directory is removed), which is our last resort too.
  if (watchdog_pid_ > 0 && stopped) ::kill(watchdog_pid_, SIGKILL);
  if (watchdog_fd_ >= 0) ::close(watchdog_fd_);
  if (watchdog_pid_ > 0) wait_exit(watchdog_pid_);
  std::error_code ec;
  fs::remove_all(root_, ec);
}

void pg_server::start_once() {
  const long long offset = file_size(log_path());
  run_result r = run(as_pg({pg_bindir() + "/pg_ctl", "-D", data_dir(), "-l", log_path(), "-w", "-t", "60",
                            "-o", "-p " + std::to_string(port_), "start"}),
                     root_);
  if (r.ok()) {
    running_ = true;
    return;
  }
  // A timed-out start may have left a postmaster behind: make sure none is running.
  stop_immediate(data_dir());
  const std::string tail = log_tail_since(offset);
  const std::string what = "PostgreSQL did not start on 127.0.0.1:" + std::to_string(port_) +
                           " (pg_ctl exit " + std::to_string(r.code) + ")\n--- pg_ctl:\n" + r.output +
                           "--- " + log_path() + " (tail):\n" + tail;
  if (tail.find("Address already in use") != std::string::npos) {
    throw std::system_error(std::make_error_code(std::errc::address_in_use), "pg_server: " + what);
  }
  fail(what);
}

void pg_server::start() {
  if (running_) return;
  start_once();
}

void pg_server::stop() {
  if (!running_) return;
  const std::string pg_ctl = pg_bindir() + "/pg_ctl";
  run_result r = run(as_pg({pg_ctl, "-D", data_dir(), "-m", "fast", "-w", "-t", "60", "stop"}), root_);
  if (!r.ok()) r = run(as_pg({pg_ctl, "-D", data_dir(), "-m", "immediate", "-w", "-t", "30", "stop"}), root_);
  // pg_ctl also fails when the server was already gone (killed by a test): no pid file, stopped.
  if (!r.ok() && fs::exists(data_dir() + "/postmaster.pid")) {
    fail("cannot stop the server in " + data_dir() + ":\n" + r.output);
  }
  running_ = false;
}

void pg_server::restart() {
  stop();
  start();
}

std::string pg_server::url(std::string_view user, std::string_view password, std::string_view db) const {
  std::string u = "postgres://" + url_encode(user);
  if (!password.empty()) u += ":" + url_encode(password);
  return u + "@" + host() + ":" + std::to_string(port_) + "/" + url_encode(db);
}

std::string pg_server::conninfo(std::string_view user, std::string_view password, std::string_view db) const {
  std::string s = "host=" + host() + " port=" + std::to_string(port_) + " user=" + conninfo_value(user);
  if (!password.empty()) s += " password=" + conninfo_value(password);
  return s + " dbname=" + conninfo_value(db);
}

namespace {
result_ptr superuser_exec(const pg_server& pg, std::string_view sql, ExecStatusType want) {
  // Named, so connection counts can leave out the fixture's own sessions (even ones still exiting).
  conn_ptr conn(PQconnectdb((pg.conninfo() + " connect_timeout=10 sslmode=disable application_name=pgfunnel_fixture").c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    fail("cannot connect to " + pg.url() + ": " + (conn ? PQerrorMessage(conn.get()) : "out of memory"));
  }
  result_ptr res(PQexec(conn.get(), std::string(sql).c_str()));
  const ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != want && !(want == PGRES_COMMAND_OK && status == PGRES_TUPLES_OK)) {
    fail("query failed: " + std::string(sql) + ": " + PQerrorMessage(conn.get()));
  }
  return res;
}
}  // namespace

void pg_server::exec(std::string_view sql) { superuser_exec(*this, sql, PGRES_COMMAND_OK); }

std::string pg_server::query_value(std::string_view sql) {
  result_ptr res = superuser_exec(*this, sql, PGRES_TUPLES_OK);
  if (PQntuples(res.get()) < 1 || PQnfields(res.get()) < 1) fail("query returned no rows: " + std::string(sql));
  return PQgetisnull(res.get(), 0, 0) ? std::string() : std::string(PQgetvalue(res.get(), 0, 0));
}

std::string pg_server::log_tail_since(long long offset, int max_lines) const {
  const std::string text = read_file_from(log_path(), offset);
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;  // the last line's own newline
  for (int lines = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++lines == max_lines) break;
  }
  return text.substr(pos);
}

pg_server& shared_pg() {
  // A function-local static: built on first use (thread-safe), destroyed at exit.
  static pg_server server;
  return server;
}

}  // namespace pgfunnel::test
