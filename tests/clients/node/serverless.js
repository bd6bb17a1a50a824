// node-postgres through the pooled listener: many short-lived pg.Clients (serverless style) plus a pg.Pool.
'use strict';
// Usage: node serverless.js URL [clients=200] [transactions_per_client=10] [pool_size=50] [pool_queries=1000]
// Table (created by the test): node_tx(client int, seq int, payload text, PRIMARY KEY (client, seq)).
// Prints "ok C clients T transactions P pool queries 0 errors in …" (with the slowest transaction and
// pool query: a starved client shows there) and exits 0, or prints every error and exits 1.

const pg = require('pg');
const { parseArgs, startDeadline, Errors, installCrashHandlers } = require('./common');

const { url, numbers } = parseArgs('serverless.js URL [clients] [transactions] [pool_size] [pool_queries]');
const [clients = 200, txPerClient = 10, poolSize = 50, poolQueries = 1000] = numbers;
const errors = new Errors();
let transactions = 0;
let poolDone = 0;
// Slowest transaction (client) and query (pool), in ms: starvation in pgfunnel's wait queue shows here.
let slowestTx = 0;
let slowestPoolQuery = 0;

installCrashHandlers('serverless');
startDeadline(60, 'serverless');

// Per-connection limits below the 60 s deadline, so a stuck connect or query is named in the errors.
const clientOptions = { connectionString: url, connectionTimeoutMillis: 45000, query_timeout: 45000 };

// One serverless-style invocation: connect, a few transactions, read back, end.
async function oneClient(id) {
  const where = `client ${id}`;
  const c = new pg.Client(clientOptions);
  c.on('error', (e) => errors.add(`${where} (async)`, e));
  await c.connect();
  try {
    const expected = [];
    for (let seq = 0; seq < txPerClient; seq++) {
      const payload = `c${id}-s${seq}-${Math.random().toString(36).slice(2)}-é✓`;
      const txStarted = Date.now();
      expected.push(payload);
      if (seq % 3 === 2) {
        // Simple protocol: the whole transaction in one Query message, several results back.
        const lit = payload.replace(/'/g, "''");
        const res = await c.query(
          `BEGIN; INSERT INTO node_tx VALUES (${id}, ${seq}, '${lit}'); ` +
            `SELECT payload FROM node_tx WHERE client = ${id} AND seq = ${seq}; COMMIT`);
        errors.check(Array.isArray(res) && res.length === 4, where, `multi-statement gave ${res.length} results`);
        errors.check(res[2].rows.length === 1 && res[2].rows[0].payload === payload, where,
          `seq ${seq}: read back ${JSON.stringify(res[2].rows)} instead of ${payload}`);
      } else {
        // Extended protocol (unnamed statements): every statement of the transaction must reach the
        // same server backend, inside the same transaction.
        await c.query('BEGIN');
        const first = await c.query('SELECT pg_backend_pid() AS pid, txid_current()::text AS xid');
        const ins = await c.query('INSERT INTO node_tx (client, seq, payload) VALUES ($1, $2, $3) RETURNING xmin::text AS xmin',
          [id, seq, payload]);
        const sel = await c.query(
          'SELECT payload, pg_backend_pid() AS pid, txid_current()::text AS xid FROM node_tx WHERE client = $1 AND seq = $2',
          [id, seq]);
        await c.query('COMMIT');
        const f = first.rows[0];
        const s = sel.rows[0];
        errors.check(s && s.payload === payload, where, `seq ${seq}: read back ${JSON.stringify(sel.rows)} instead of ${payload}`);
        errors.check(s && s.pid === f.pid, where, `seq ${seq}: backend pid changed inside a transaction (${f.pid} -> ${s && s.pid})`);
        errors.check(s && s.xid === f.xid && ins.rows[0].xmin === f.xid, where,
          `seq ${seq}: transaction id changed inside a transaction (${f.xid}, insert xmin ${ins.rows[0].xmin}, ${s && s.xid})`);
      }
      transactions++;
      slowestTx = Math.max(slowestTx, Date.now() - txStarted);
    }
    // A rolled-back transaction leaves nothing behind, and the client is usable afterwards.
    await c.query('BEGIN');
    await c.query('INSERT INTO node_tx VALUES ($1, -1, $2)', [id, 'rolled back']);
    const inside = await c.query('SELECT count(*)::int AS n FROM node_tx WHERE client = $1 AND seq = -1', [id]);
    await c.query('ROLLBACK');
    const after = await c.query('SELECT count(*)::int AS n FROM node_tx WHERE client = $1 AND seq = -1', [id]);
    errors.check(inside.rows[0].n === 1 && after.rows[0].n === 0, where,
      `rollback: ${inside.rows[0].n} row inside, ${after.rows[0].n} after (want 1, 0)`);
    // Everything this client committed, in order.
    const all = await c.query('SELECT payload FROM node_tx WHERE client = $1 ORDER BY seq', [id]);
    const got = all.rows.map((r) => r.payload);
    errors.check(JSON.stringify(got) === JSON.stringify(expected), where,
      `read back ${got.length} rows ${JSON.stringify(got)} instead of ${JSON.stringify(expected)}`);
  } finally {
    await c.end();
  }
}

// A pg.Pool hammered with parameterized queries (extended protocol, unnamed statements).
async function poolWork() {
  // For a Pool, connectionTimeoutMillis also bounds the wait in its own queue (1000 requests for 50
  // connections): no limit there, the deadline covers it.
  const pool = new pg.Pool({ ...clientOptions, connectionTimeoutMillis: 0, max: poolSize, idleTimeoutMillis: 1000 });
  pool.on('error', (e) => errors.add('pool (idle client)', e));
  const one = async (i) => {
    const text = `q${i}-${'x'.repeat(i % 50)}-ü`;
    // pg.Pool queues requests until one of its 50 connections is free: time only the query itself.
    const pooled = await pool.connect();
    const queryStarted = Date.now();
    let res;
    try {
      res = await pooled.query(
        'SELECT $1::int * 2 AS doubled, $2::text || \'!\' AS echoed, $3::int[] AS arr, $4::text IS NULL AS was_null, $5::bigint + 1 AS big',
        [i, text, [i, i + 1, i + 2], null, '9007199254740993']);
      pooled.release();
    } catch (e) {
      pooled.release(e);  // a connection that failed is discarded, not reused
      throw e;
    }
    slowestPoolQuery = Math.max(slowestPoolQuery, Date.now() - queryStarted);
    const r = res.rows[0];
    errors.check(res.rows.length === 1 && r.doubled === i * 2 && r.echoed === `${text}!` &&
      JSON.stringify(r.arr) === JSON.stringify([i, i + 1, i + 2]) && r.was_null === true && r.big === '9007199254740994',
    `pool query ${i}`, `wrong result ${JSON.stringify(res.rows)}`);
    poolDone++;
  };
  try {
    await Promise.all(Array.from({ length: poolQueries }, (_, i) => one(i).catch((e) => errors.add(`pool query ${i}`, e))));
  } finally {
    await pool.end();
  }
}

async function main() {
  const started = Date.now();
  await Promise.all([
    ...Array.from({ length: clients }, (_, id) => oneClient(id).catch((e) => errors.add(`client ${id}`, e))),
    poolWork().catch((e) => errors.add('pool', e)),
  ]);
  errors.check(transactions === clients * txPerClient, 'totals', `${transactions} transactions committed, want ${clients * txPerClient}`);
  errors.check(poolDone === poolQueries, 'totals', `${poolDone} pool queries checked, want ${poolQueries}`);
  // The table holds exactly what all clients committed (nothing rolled back, nothing lost).
  const c = new pg.Client(clientOptions);
  await c.connect();
  const { rows } = await c.query('SELECT count(*)::int AS n, count(*) FILTER (WHERE seq < 0)::int AS rolled FROM node_tx');
  await c.end();
  errors.check(rows[0].n === clients * txPerClient && rows[0].rolled === 0, 'totals',
    `node_tx holds ${rows[0].n} rows (${rows[0].rolled} rolled back), want ${clients * txPerClient} (0)`);
  const timing = `in ${Date.now() - started} ms, slowest transaction ${slowestTx} ms, slowest pool query ${slowestPoolQuery} ms`;
  if (errors.count > 0) console.error(timing);
  errors.exitIfAny('serverless');
  console.log(`ok ${clients} clients ${transactions} transactions ${poolDone} pool queries ${errors.count} errors ${timing}`);
}

main().catch((e) => {
  errors.add('main', e);
  errors.exitIfAny('serverless');
});
