// postgres.js with its default prepare: true (named statements) through the pooled listener: concurrent queries.
'use strict';
// Usage: node postgresjs.js URL [max_connections=20] [queries=2000]
// Table (created by the test): pjs_rows(unit int PRIMARY KEY, payload text).
// postgres.js names every statement per connection, pipelines up to 100 queries on one connection,
// and sends a new parameterized statement as Parse + Describe + Flush, then Bind + Execute + Sync
// once it has the parameter types. All queries are issued at once and queue over `max`
// connections: tagged templates, sql.unsafe with many texts, sql.begin transactions (committed,
// rolled back, failing, with a savepoint) and errors. postgres.js silently prepares again and
// retries a query once when the server says its statement does not exist; the `debug` hook counts
// those retries, which must be 0 (otherwise the driver, not pgfunnel, made it work).
// Prints "ok M connections Q queries R rows 0 retries 0 errors" and exits 0, or prints every error and exits 1.

const postgres = require('postgres');
const { parseArgs, startDeadline, Errors, installCrashHandlers } = require('./common');

const { url, numbers } = parseArgs('postgresjs.js URL [max_connections] [queries]');
const [maxConnections = 20, queries = 2000] = numbers;
const errors = new Errors();
const DISTINCT_TEXTS = 50;

installCrashHandlers('postgresjs');
startDeadline(75, 'postgresjs');

let issued = 0;  // parameterized queries this program sent (each builds once unless retried)
let built = 0;   // parameterized queries postgres.js built: one more per silent retry
const sql = postgres(url, {
  max: maxConnections,
  connect_timeout: 30,
  idle_timeout: 5,
  onnotice: () => {},
  debug: (_connection, _query, parameters) => {
    if (parameters.length > 0) built++;
  },
});

// Every query goes through here so `issued` counts the parameterized ones (the only ones `debug` counts).
function q(strings, ...values) {
  if (values.length > 0) issued++;
  return sql(strings, ...values);
}
function tq(tx) {  // the same for a transaction's or savepoint's sql: tq(tx)`...`
  return (strings, ...values) => {
    if (values.length > 0) issued++;
    return tx(strings, ...values);
  };
}

const committed = new Map();  // unit -> payload
let done = 0;

async function unit(i) {
  const where = `query ${i}`;
  switch (i % 10) {
    case 0: case 1: case 2: case 3: {
      const text = `u${i}-${'é'.repeat(i % 5)}`;
      const [r] = await q`select ${i}::int + ${i % 7}::int as s, ${text}::text || '!' as t, ${null}::text is null as n`;
      errors.check(r && r.s === i + (i % 7) && r.t === `${text}!` && r.n === true, where, `got ${JSON.stringify(r)}`);
      break;
    }
    case 4: {
      const n = (i % 6) + 1;
      const rows = await q`select g, g * ${i}::int as m from generate_series(1, ${n}::int) g order by g`;
      errors.check(rows.length === n && rows.every((r, j) => r.g === j + 1 && r.m === (j + 1) * i), where,
        `generate_series gave ${JSON.stringify(rows)}`);
      break;
    }
    case 5: {
      const payload = `row ${i} ✓`;
      const res = await q`insert into pjs_rows (unit, payload) values (${i}, ${payload})`;
      errors.check(res.count === 1, where, `insert count ${res.count}`);
      committed.set(i, payload);
      break;
    }
    case 6: {
      // A transaction: the connection is reserved for it; rolled back when the callback throws.
      const rollback = i % 40 === 16;
      const payload = `tx ${i}`;
      try {
        await sql.begin(async (tx) => {
          const [a] = await tq(tx)`select pg_backend_pid() as pid, txid_current()::text as xid, ${i}::int as i`;
          await tq(tx)`insert into pjs_rows (unit, payload) values (${i}, ${payload})`;
          const [b] = await tq(tx)`select payload, pg_backend_pid() as pid, txid_current()::text as xid from pjs_rows where unit = ${i}`;
          errors.check(b && b.payload === payload && b.pid === a.pid && b.xid === a.xid, where,
            `inside the transaction: ${JSON.stringify(a)} then ${JSON.stringify(b)}`);
          if (rollback) throw new Error('roll back');
        });
        committed.set(i, payload);
      } catch (e) {
        if (!rollback || e.message !== 'roll back') throw e;
      }
      const [c] = await q`select count(*)::int as n from pjs_rows where unit = ${i}`;
      errors.check(c.n === (rollback ? 0 : 1), where, `after the transaction: ${c.n} rows`);
      break;
    }
    case 7: {
      // Many texts shared by all connections (each connection names them its own way). sql.unsafe
      // does not prepare unless asked to.
      const k = Math.floor(i / 10) % DISTINCT_TEXTS;
      issued++;
      const [r] = await sql.unsafe(`select $1::int + ${k} as k${k}`, [i], { prepare: true });
      errors.check(r && r[`k${k}`] === i + k, where, `distinct text ${k}: got ${JSON.stringify(r)}`);
      break;
    }
    case 8: {
      if (i % 100 === 8) {
        // An error on a named statement must not poison the connection's later queries.
        try {
          await q`select 1 / ${0}::int as x`;
          errors.add(where, new Error('division by zero did not raise'));
        } catch (e) {
          errors.check(e.code === '22012', where, `want 22012, got ${e.code}: ${e.message}`);
        }
      } else {
        const [r] = await q`select ${String(2 ** 40 + i)}::bigint + 1 as b, ${i % 2 === 0}::bool as even, ${i / 4}::float8 as f`;
        errors.check(r && r.b === String(2 ** 40 + i + 1) && r.even === (i % 2 === 0) && r.f === i / 4, where,
          `got ${JSON.stringify(r)}`);
      }
      break;
    }
    default: {
      const payload = `sp ${i}`;
      if (i % 100 === 59) {
        // An error inside a transaction rejects sql.begin and leaves nothing.
        try {
          await sql.begin(async (tx) => {
            await tq(tx)`insert into pjs_rows (unit, payload) values (${i}, 'doomed')`;
            await tq(tx)`select 1 / (${i}::int - ${i}::int) as x`;
          });
          errors.add(where, new Error('division by zero inside a transaction did not raise'));
        } catch (e) {
          errors.check(e.code === '22012', where, `want 22012, got ${e.code}: ${e.message}`);
        }
      } else {
        // A failing savepoint rolled back inside a committed transaction.
        await sql.begin(async (tx) => {
          await tq(tx)`insert into pjs_rows (unit, payload) values (${i}, ${payload})`;
          try {
            await tx.savepoint(async (sp) => {
              await tq(sp)`insert into pjs_rows (unit, payload) values (${-i}, 'savepoint')`;
              await tq(sp)`select 1 / ${0}::int as x`;
            });
          } catch (e) {
            errors.check(e.code === '22012', where, `savepoint: want 22012, got ${e.code}: ${e.message}`);
          }
        });
        committed.set(i, payload);
      }
      const [c] = await q`select count(*)::int as n from pjs_rows where unit in (${i}, ${-i})`;
      const want = i % 100 === 59 ? 0 : 1;
      errors.check(c.n === want, where, `after the transaction: ${c.n} rows, want ${want}`);
    }
  }
  done++;
}

async function main() {
  const started = Date.now();
  await Promise.all(Array.from({ length: queries }, (_, i) => unit(i).catch((e) => errors.add(`query ${i}`, e))));
  const [p] = await q`select count(*)::int + ${0}::int as n from pg_prepared_statements where not from_sql and statement like '%named-probe%'`;
  errors.check(p.n >= 1, 'probe', 'the probe query is not a named prepared statement on its server: prepare: true had no effect?');
  const rows = await q`select unit, payload from pjs_rows order by unit`;
  const want = [...committed.entries()].sort((a, b) => a[0] - b[0]);
  errors.check(JSON.stringify(rows.map((r) => [r.unit, r.payload])) === JSON.stringify(want), 'totals',
    `pjs_rows holds ${rows.length} rows, want ${want.length}`);
  errors.check(done === queries, 'totals', `${done} queries checked, want ${queries}`);
  const retries = built - issued;
  errors.check(retries === 0, 'totals',
    `postgres.js built ${built} parameterized queries for ${issued} sent: ${retries} silent retries after "prepared statement does not exist"`);
  await sql.end({ timeout: 10 });
  const timing = `in ${Date.now() - started} ms`;
  if (errors.count > 0) console.error(timing);
  errors.exitIfAny('postgresjs');
  console.log(`ok ${maxConnections} connections ${done} queries ${rows.length} rows ${retries} retries ${errors.count} errors ${timing}`);
}

main().catch((e) => {
  errors.add('main', e);
  errors.exitIfAny('postgresjs');
});
