// pgjdbc with prepareThreshold=1 (named server statements S_1, S_2 ... per connection) through the pooled listener.
//
// Usage: java -cp /usr/share/java/postgresql.jar PreparedClients.java URL [threads=8] [iterations=200]
// URL is postgres://user:password@host:port/db[?...]. Table (created by the test):
// jdbc_rows(thread int, seq int, amount numeric, note text, PRIMARY KEY (thread, seq)).
//
// Every thread has its own Connection and prepares its statements in its own order, so the same
// name (S_1, S_2, ...) stands for different query texts on different connections: the names are
// the client's, never the server's. pgjdbc parses a statement once per connection and later sends
// only Bind/Execute, so in transaction mode the statement must exist on whichever server the next
// transaction gets. Odd threads run with preparedStatementCacheQueries=0, so closing a
// PreparedStatement sends a protocol Close; each thread also sends DEALLOCATE ALL or DISCARD ALL
// once (pgjdbc then prepares everything again). Prints "ok T threads I iterations R rows 0 errors"
// and exits 0, or prints every error and exits 1.
import java.math.BigDecimal;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public class PreparedClients {
  static final int DEADLINE_S = 75;
  // Non-zero only when this very query is a named prepared statement on the backend running it.
  static final String PROBE = "SELECT count(*)::int + ?::int FROM pg_prepared_statements "
      + "WHERE NOT from_sql AND statement LIKE '%named-probe%'";

  static final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
  static final AtomicInteger iterationsDone = new AtomicInteger();
  static final AtomicInteger rowsVerified = new AtomicInteger();
  static final AtomicInteger threadsVerified = new AtomicInteger();

  static String jdbcUrl;
  static Properties baseProps = new Properties();

  static void fail(String where, String message) { errors.add(where + ": " + message); }

  static boolean check(boolean cond, String where, String message) {
    if (!cond) fail(where, message);
    return cond;
  }

  // postgres://user:pass@host:port/db?sslmode=disable -> jdbc:postgresql://host:port/db + user/password
  static void parseUrl(String url) {
    URI u = URI.create(url);
    String[] userInfo = u.getRawUserInfo().split(":", 2);
    baseProps.setProperty("user", URLDecoder.decode(userInfo[0], StandardCharsets.UTF_8));
    if (userInfo.length > 1) baseProps.setProperty("password", URLDecoder.decode(userInfo[1], StandardCharsets.UTF_8));
    jdbcUrl = "jdbc:postgresql://" + u.getHost() + ":" + u.getPort() + u.getPath();
    baseProps.setProperty("sslmode", "disable");
    baseProps.setProperty("prepareThreshold", "1");  // a named statement from the first execution on
    baseProps.setProperty("ApplicationName", "pgfunnel-pgjdbc");
    baseProps.setProperty("connectTimeout", "30");
    baseProps.setProperty("socketTimeout", "60");
  }

  static final String ADD = "SELECT ?::int + ?::int";
  static final String ECHO = "SELECT ?::text || '/' || ?::text, ?::numeric * 2, ?::bigint + 1";
  static final String INSERT = "INSERT INTO jdbc_rows (thread, seq, amount, note) VALUES (?, ?, ?, ?)";
  static final String READ = "SELECT amount, note, pg_backend_pid() FROM jdbc_rows WHERE thread = ? AND seq = ?";
  static final String COUNT = "SELECT count(*) FROM jdbc_rows WHERE thread = ? AND seq = ?";
  static final String PID = "SELECT pg_backend_pid(), txid_current()";
  static final String DIV = "SELECT 1 / ?::int";

  static void worker(int t, int iterations) throws SQLException {
    String where = "thread " + t;
    Properties props = new Properties();
    props.putAll(baseProps);
    if (t % 2 == 1) props.setProperty("preparedStatementCacheQueries", "0");
    try (Connection c = DriverManager.getConnection(jdbcUrl, props)) {
      // Prepare in a per-thread order: S_1 is ADD on one connection, INSERT on another, ...
      List<String> texts = new ArrayList<>(List.of(ADD, ECHO, INSERT, READ, COUNT, PID, DIV));
      java.util.Collections.rotate(texts, t);
      TreeMap<String, PreparedStatement> ps = new TreeMap<>();
      for (String text : texts) ps.put(text, c.prepareStatement(text));
      TreeMap<Integer, String> committed = new TreeMap<>();  // seq -> note

      for (int i = 0; i < iterations; i++) {
        String w = where + " iteration " + i;
        PreparedStatement add = ps.get(ADD);
        add.setInt(1, i);
        add.setInt(2, t);
        try (ResultSet rs = add.executeQuery()) {
          check(rs.next() && rs.getInt(1) == i + t, w, "add: wrong result");
        }
        PreparedStatement echo = ps.get(ECHO);
        echo.setString(1, "t" + t);
        echo.setString(2, "ü" + i);
        echo.setBigDecimal(3, BigDecimal.valueOf(i, 2));
        echo.setLong(4, (1L << 40) + i);
        try (ResultSet rs = echo.executeQuery()) {
          rs.next();
          check(rs.getString(1).equals("t" + t + "/ü" + i) && rs.getBigDecimal(2).compareTo(BigDecimal.valueOf(2L * i, 2)) == 0
              && rs.getLong(3) == (1L << 40) + i + 1, w, "echo: got " + rs.getString(1) + " " + rs.getBigDecimal(2) + " " + rs.getLong(3));
        }
        switch (i % 10) {
          case 0, 5 -> {
            // A transaction: every statement on one backend, committed or rolled back.
            boolean rollback = i % 20 == 15;
            int seq = i * 10;
            String note = "tx " + t + "/" + i + " ✓";
            c.setAutoCommit(false);
            long pid;
            long xid;
            try (ResultSet rs = ps.get(PID).executeQuery()) {
              rs.next();
              pid = rs.getLong(1);
              xid = rs.getLong(2);
            }
            PreparedStatement ins = ps.get(INSERT);
            ins.setInt(1, t);
            ins.setInt(2, seq);
            ins.setBigDecimal(3, BigDecimal.valueOf(seq, 3));
            ins.setString(4, note);
            check(ins.executeUpdate() == 1, w, "insert did not insert one row");
            PreparedStatement read = ps.get(READ);
            read.setInt(1, t);
            read.setInt(2, seq);
            try (ResultSet rs = read.executeQuery()) {
              check(rs.next() && note.equals(rs.getString(2)) && rs.getLong(3) == pid, w,
                  "inside the transaction: row missing or another backend");
            }
            try (ResultSet rs = ps.get(PID).executeQuery()) {
              rs.next();
              check(rs.getLong(1) == pid && rs.getLong(2) == xid, w, "backend or transaction changed inside a transaction");
            }
            if (rollback) c.rollback(); else c.commit();
            c.setAutoCommit(true);
            if (!rollback) committed.put(seq, note);
            check(count(ps.get(COUNT), t, seq) == (rollback ? 0 : 1), w, "after the transaction: wrong row count");
          }
          case 1 -> {
            // A batch: one Parse at most, several Bind/Execute, one Sync.
            PreparedStatement ins = ps.get(INSERT);
            for (int j = 1; j <= 3; j++) {
              ins.setInt(1, t);
              ins.setInt(2, i * 10 + j);
              ins.setBigDecimal(3, BigDecimal.valueOf(j));
              ins.setString(4, "batch " + j);
              ins.addBatch();
              committed.put(i * 10 + j, "batch " + j);
            }
            int[] n = ins.executeBatch();
            check(n.length == 3, w, "batch ran " + n.length + " statements");
          }
          case 2 -> {
            // A short-lived PreparedStatement: with the statement cache off it is closed on the server.
            int n = i % 7 + 1;
            try (PreparedStatement p = c.prepareStatement("SELECT g, g * ?::int FROM generate_series(1, ?::int) g ORDER BY g")) {
              p.setInt(1, t);
              p.setInt(2, n);
              try (ResultSet rs = p.executeQuery()) {
                int g = 0;
                while (rs.next()) {
                  g++;
                  check(rs.getInt(1) == g && rs.getInt(2) == g * t, w, "generate_series row " + g);
                }
                check(g == n, w, "generate_series gave " + g + " rows, want " + n);
              }
            }
          }
          case 3 -> {
            if (i % 50 == 3) {
              // An error outside a transaction must not poison the statements used afterwards.
              PreparedStatement div = ps.get(DIV);
              div.setInt(1, 0);
              try (ResultSet rs = div.executeQuery()) {
                fail(w, "division by zero did not raise");
              } catch (SQLException e) {
                check("22012".equals(e.getSQLState()), w, "want division_by_zero, got " + e);
              }
            } else {
              PreparedStatement div = ps.get(DIV);
              div.setInt(1, i);
              try (ResultSet rs = div.executeQuery()) {
                check(rs.next() && rs.getInt(1) == (i == 1 ? 1 : 0), w, "1 / i: wrong result");
              }
            }
          }
          case 4 -> {
            if (i % 50 == 4) {
              // An error inside a transaction: roll back, nothing stays, the connection goes on.
              int seq = i * 10;
              c.setAutoCommit(false);
              try {
                PreparedStatement ins = ps.get(INSERT);
                ins.setInt(1, t);
                ins.setInt(2, seq);
                ins.setBigDecimal(3, BigDecimal.ZERO);
                ins.setString(4, "doomed");
                ins.executeUpdate();
                PreparedStatement div = ps.get(DIV);
                div.setInt(1, 0);
                div.executeQuery().close();
                fail(w, "division by zero inside a transaction did not raise");
              } catch (SQLException e) {
                check("22012".equals(e.getSQLState()), w, "want division_by_zero, got " + e);
              }
              c.rollback();
              c.setAutoCommit(true);
              check(count(ps.get(COUNT), t, seq) == 0, w, "the failed transaction left a row");
            } else {
              // One of 30 texts shared by all threads, named differently on each connection.
              int k = (t * 7 + i) % 30;
              try (PreparedStatement p = c.prepareStatement("SELECT ?::int + " + k + " AS k" + k)) {
                p.setInt(1, i);
                try (ResultSet rs = p.executeQuery()) {
                  check(rs.next() && rs.getInt(1) == i + k, w, "distinct text " + k + ": wrong result");
                }
              }
            }
          }
          default -> {
            if (i == iterations / 2 + 6 || i == iterations / 2 + 7) {
              // pgjdbc notices DEALLOCATE ALL / DISCARD ALL and prepares its statements again.
              String sql = t % 2 == 0 ? "DEALLOCATE ALL" : "DISCARD ALL";
              try (Statement s = c.createStatement()) {
                s.execute(sql);
              }
            } else {
              try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT " + i + " AS plain")) {
                check(rs.next() && rs.getInt(1) == i, w, "plain statement: wrong result");
              }
            }
          }
        }
        iterationsDone.incrementAndGet();
      }

      try (PreparedStatement probe = c.prepareStatement(PROBE)) {
        probe.setInt(1, 0);
        try (ResultSet rs = probe.executeQuery()) {
          check(rs.next() && rs.getInt(1) >= 1, where, "the probe query is not a named prepared statement on its server");
        }
      }
      TreeMap<Integer, String> got = new TreeMap<>();
      try (PreparedStatement p = c.prepareStatement("SELECT seq, note FROM jdbc_rows WHERE thread = ? ORDER BY seq")) {
        p.setInt(1, t);
        try (ResultSet rs = p.executeQuery()) {
          while (rs.next()) got.put(rs.getInt(1), rs.getString(2));
        }
      }
      if (check(got.equals(committed), where, "read back " + got.size() + " rows, want " + committed.size())) {
        threadsVerified.incrementAndGet();
        rowsVerified.addAndGet(got.size());
      }
      for (PreparedStatement p : ps.values()) p.close();
    }
  }

  static int count(PreparedStatement count, int t, int seq) throws SQLException {
    count.setInt(1, t);
    count.setInt(2, seq);
    try (ResultSet rs = count.executeQuery()) {
      rs.next();
      return rs.getInt(1);
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: java -cp postgresql.jar PreparedClients.java URL [threads] [iterations]");
      System.exit(64);
    }
    parseUrl(args[0]);
    int threads = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    int iterations = args.length > 2 ? Integer.parseInt(args[2]) : 200;
    long started = System.nanoTime();
    List<Thread> all = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      final int id = t;
      Thread th = new Thread(() -> {
        try {
          worker(id, iterations);
        } catch (BatchUpdateException e) {
          fail("thread " + id, e + " / next: " + e.getNextException());
        } catch (Throwable e) {
          java.io.StringWriter sw = new java.io.StringWriter();
          e.printStackTrace(new java.io.PrintWriter(sw));
          fail("thread " + id, sw.toString());
        }
      });
      th.setDaemon(true);  // a thread stuck in a query must not keep the JVM alive past the deadline
      th.start();
      all.add(th);
    }
    long deadline = started + TimeUnit.SECONDS.toNanos(DEADLINE_S);
    for (Thread th : all) th.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
    if (all.stream().anyMatch(Thread::isAlive)) fail("main", "still running after " + DEADLINE_S + "s (deadline)");
    if (errors.isEmpty()) {
      check(iterationsDone.get() == threads * iterations, "totals", iterationsDone.get() + " iterations, want " + threads * iterations);
      check(threadsVerified.get() == threads, "totals", threadsVerified.get() + " threads verified, want " + threads);
    }
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    if (!errors.isEmpty()) {
      int shown = 0;
      for (String e : errors) {
        if (shown++ == 20) {
          System.err.println("... and " + (errors.size() - 20) + " more");
          break;
        }
        System.err.println(e);
      }
      System.err.println("FAIL pgjdbc: " + errors.size() + " errors in " + ms + " ms");
      System.exit(1);
    }
    System.out.println("ok " + threads + " threads " + iterationsDone.get() + " iterations " + rowsVerified.get()
        + " rows 0 errors in " + ms + " ms");
    System.exit(0);
  }
}
