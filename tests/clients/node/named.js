// node-postgres named queries ({name, text, values}: named prepared statements) through the pooled listener.
'use strict';
// Usage: node named.js URL [clients=200] [rounds_per_client=10] [pool_size=10] [pool_queries=500]
// Table (created by the test): named_rows(client int, seq int, payload text, PRIMARY KEY (client, seq)).
// node-postgres sends Parse for a name once per connection and then only Bind/Execute, so in
// transaction mode the statement must be on whichever server the next query gets. Many
// short-lived clients (serverless style) and a pg.Pool use the same names for the same texts; the
// name "variant" stands for a different text on even and odd clients (names belong to the client);
// a named statement whose Parse fails ("maybe" on some clients) must leave nothing behind.
// Prints "ok C clients N named queries P pool queries R rows 0 errors" and exits 0, or prints every
// error and exits 1.

const pg = require('pg');
const { parseArgs, startDeadline, Errors, installCrashHandlers } = require('./common');

const { url, numbers } = parseArgs('named.js URL [clients] [rounds] [pool_size] [pool_queries]');
const [clients = 200, rounds = 10, poolSize = 10, poolQueries = 500] = numbers;
const errors = new Errors();
let namedQueries = 0;
let poolDone = 0;
const committed = new Map();  // "client/seq" -> payload

installCrashHandlers('named');
startDeadline(75, 'named');

const clientOptions = { connectionString: url, connectionTimeoutMillis: 45000, query_timeout: 45000 };

const SUM = 'SELECT $1::int + $2::int AS s';
const PUT = 'INSERT INTO named_rows (client, seq, payload) VALUES ($1, $2, $3)';
const GET = 'SELECT payload, pg_backend_pid() AS pid FROM named_rows WHERE client = $1 AND seq = $2';
const DIV = 'SELECT 1 / $1::int AS x';
const variantText = (id) => (id % 2 === 0 ? "SELECT $1::text || '-even' AS v" : "SELECT $1::text || '-odd' AS v");
// Non-zero only when this very query is a named prepared statement on the backend running it.
const PROBE = "SELECT count(*)::int + $1::int AS n FROM pg_prepared_statements WHERE NOT from_sql AND statement LIKE '%named-probe%'";

async function named(c, name, text, values) {
  namedQueries++;
  return c.query({ name, text, values });
}

async function oneClient(id) {
  const where = `client ${id}`;
  const c = new pg.Client(clientOptions);
  c.on('error', (e) => errors.add(`${where} (async)`, e));
  await c.connect();
  try {
    if (id % 20 === 0) {
      // A named Parse that fails: the error comes back, the name stays unused, the client goes on.
      try {
        await named(c, 'maybe', 'SELECT x FROM named_no_such_table WHERE x = $1', [id]);
        errors.add(where, new Error('query on a missing table did not fail'));
      } catch (e) {
        errors.check(e.code === '42P01', where, `maybe: want 42P01, got ${e.code}: ${e.message}`);
      }
    } else if (id % 20 === 1) {
      // The same name, a valid text, on another client.
      const r = await named(c, 'maybe', 'SELECT $1::int * 3 AS x', [id]);
      errors.check(r.rows[0].x === id * 3, where, `maybe: got ${JSON.stringify(r.rows)}`);
    }
    for (let seq = 0; seq < rounds; seq++) {
      const w = `${where} seq ${seq}`;
      const payload = `c${id}-s${seq}-é✓`;
      switch (seq % 5) {
        case 0: {
          const r = await named(c, 'get-sum', SUM, [id, seq]);
          errors.check(r.rows.length === 1 && r.rows[0].s === id + seq, w, `get-sum: got ${JSON.stringify(r.rows)}`);
          break;
        }
        case 1: {
          await named(c, 'put-row', PUT, [id, seq, payload]);
          committed.set(`${id}/${seq}`, payload);
          const r = await named(c, 'get-row', GET, [id, seq]);
          errors.check(r.rows.length === 1 && r.rows[0].payload === payload, w, `get-row: got ${JSON.stringify(r.rows)}`);
          break;
        }
        case 2: {
          // A transaction: the named statements run on one backend; some are rolled back.
          const rollback = (id + seq) % 4 === 0;
          await c.query('BEGIN');
          const a = await named(c, 'get-row', GET, [id, -1]);  // a named statement first thing in the transaction
          errors.check(a.rows.length === 0, w, `row -1 exists: ${JSON.stringify(a.rows)}`);
          const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
          await named(c, 'put-row', PUT, [id, seq, payload]);
          const r = await named(c, 'get-row', GET, [id, seq]);
          errors.check(r.rows.length === 1 && r.rows[0].payload === payload && r.rows[0].pid === pid, w,
            `inside the transaction: got ${JSON.stringify(r.rows)} on backend ${pid}`);
          await c.query(rollback ? 'ROLLBACK' : 'COMMIT');
          if (!rollback) committed.set(`${id}/${seq}`, payload);
          const after = await named(c, 'get-row', GET, [id, seq]);
          errors.check(after.rows.length === (rollback ? 0 : 1), w, `after the transaction: ${after.rows.length} rows`);
          break;
        }
        case 3: {
          const r = await named(c, 'variant', variantText(id), [`v${id}`]);
          const want = `v${id}-${id % 2 === 0 ? 'even' : 'odd'}`;
          errors.check(r.rows.length === 1 && r.rows[0].v === want, w, `variant: got ${JSON.stringify(r.rows)}, want ${want}`);
          break;
        }
        default: {
          if (id % 10 === 4) {
            // An error in a named statement's Execute: the statement stays usable.
            try {
              await named(c, 'div', DIV, [0]);
              errors.add(w, new Error('division by zero did not raise'));
            } catch (e) {
              errors.check(e.code === '22012', w, `div: want 22012, got ${e.code}: ${e.message}`);
            }
          }
          const r = await named(c, 'div', DIV, [1]);
          errors.check(r.rows.length === 1 && r.rows[0].x === 1, w, `div: got ${JSON.stringify(r.rows)}`);
        }
      }
    }
    const p = await named(c, 'probe', PROBE, [0]);
    errors.check(p.rows[0].n >= 1, where, 'the probe query is not a named prepared statement on its server');
  } finally {
    await c.end();
  }
}

// A pg.Pool: its connections live on, so each runs the same names many times with Bind/Execute only.
async function poolWork() {
  const pool = new pg.Pool({ ...clientOptions, connectionTimeoutMillis: 0, max: poolSize, idleTimeoutMillis: 1000 });
  pool.on('error', (e) => errors.add('pool (idle client)', e));
  const one = async (i) => {
    const where = `pool query ${i}`;
    if (i % 3 === 0) {
      const r = await named(pool, 'get-sum', SUM, [i, 1]);
      errors.check(r.rows[0].s === i + 1, where, `get-sum: got ${JSON.stringify(r.rows)}`);
    } else if (i % 3 === 1) {
      const r = await named(pool, 'variant', "SELECT $1::text || '-pool' AS v", [`p${i}`]);
      errors.check(r.rows[0].v === `p${i}-pool`, where, `variant: got ${JSON.stringify(r.rows)}`);
    } else {
      await named(pool, 'put-row', PUT, [1000000 + i, 0, `pool ${i}`]);
      committed.set(`${1000000 + i}/0`, `pool ${i}`);
    }
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
  errors.check(poolDone === poolQueries, 'totals', `${poolDone} pool queries checked, want ${poolQueries}`);
  const c = new pg.Client(clientOptions);
  await c.connect();
  const { rows } = await c.query('SELECT client, seq, payload FROM named_rows ORDER BY client, seq');
  await c.end();
  const got = rows.map((r) => `${r.client}/${r.seq}=${r.payload}`).sort();
  const want = [...committed.entries()].map(([k, v]) => `${k}=${v}`).sort();
  errors.check(JSON.stringify(got) === JSON.stringify(want), 'totals', `named_rows holds ${got.length} rows, want ${want.length}`);
  const timing = `in ${Date.now() - started} ms`;
  if (errors.count > 0) console.error(timing);
  errors.exitIfAny('named');
  console.log(`ok ${clients} clients ${namedQueries} named queries ${poolDone} pool queries ${rows.length} rows ${errors.count} errors ${timing}`);
}

main().catch((e) => {
  errors.add('main', e);
  errors.exitIfAny('named');
});
