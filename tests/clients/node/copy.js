// node-postgres COPY through the pooled listener with pg-copy-streams: FROM STDIN, rollback, TO STDOUT.
'use strict';
// Usage: node copy.js URL [copiers=5] [rows_per_copier=10000]
// Table (created by the test): node_copy(copier int, n int, word text, PRIMARY KEY (copier, n)).
// Each copier is its own pg.Client: COPY FROM STDIN in autocommit, a COPY inside a transaction
// that is rolled back, then COPY TO STDOUT of its rows compared line by line with what it sent.
// Prints "ok C copiers R rows 0 errors" and exits 0, or prints every error and exits 1.

const { pipeline } = require('node:stream/promises');
const { Readable, Writable } = require('node:stream');
const pg = require('pg');
const { from: copyFrom, to: copyTo } = require('pg-copy-streams');
const { parseArgs, startDeadline, Errors, installCrashHandlers } = require('./common');

const { url, numbers } = parseArgs('copy.js URL [copiers] [rows_per_copier]');
const [copiers = 5, rowsPerCopier = 10000] = numbers;
const errors = new Errors();
let rowsVerified = 0;

installCrashHandlers('copy');
startDeadline(60, 'copy');

// Text-format COPY lines, with characters that need escaping (tab, backslash, newline) and UTF-8.
function line(copier, n) {
  const word = n % 7 === 0 ? `tab\\there\\\\back\\nnewline-${n}` : `w${n}-ünï-${'z'.repeat(n % 13)}`;
  return `${copier}\t${n}\t${word}\n`;
}

function linesOf(copier, rows) {
  let n = 0;
  return Readable.from((function* gen() {
    // Chunks of 500 lines: many CopyData messages, none tiny.
    while (n < rows) {
      let chunk = '';
      for (let k = 0; k < 500 && n < rows; k++, n++) chunk += line(copier, n);
      yield chunk;
    }
  })());
}

async function oneCopier(copier) {
  const where = `copier ${copier}`;
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 45000 });
  c.on('error', (e) => errors.add(`${where} (async)`, e));
  await c.connect();
  try {
    const into = c.query(copyFrom('COPY node_copy (copier, n, word) FROM STDIN'));
    await pipeline(linesOf(copier, rowsPerCopier), into);
    errors.check(into.rowCount === rowsPerCopier, where, `COPY FROM reported ${into.rowCount} rows, want ${rowsPerCopier}`);

    // A COPY inside a transaction that is rolled back adds nothing.
    await c.query('BEGIN');
    const doomed = c.query(copyFrom('COPY node_copy (copier, n, word) FROM STDIN'));
    await pipeline(Readable.from([`${copier}\t-1\tdoomed\n`, `${copier}\t-2\tdoomed\n`]), doomed);
    const inside = await c.query('SELECT count(*)::int AS n FROM node_copy WHERE copier = $1', [copier]);
    await c.query('ROLLBACK');
    errors.check(inside.rows[0].n === rowsPerCopier + 2, where, `inside the transaction: ${inside.rows[0].n} rows`);

    // COPY TO STDOUT: the same bytes come back, in order.
    const chunks = [];
    const out = c.query(copyTo(`COPY (SELECT copier, n, word FROM node_copy WHERE copier = ${copier} ORDER BY n) TO STDOUT`));
    await pipeline(out, new Writable({
      write(chunk, _enc, done) {
        chunks.push(chunk);  // decoded once at the end: a chunk may end inside a UTF-8 character
        done();
      },
    }));
    const received = Buffer.concat(chunks).toString('utf8');
    let expected = '';
    for (let n = 0; n < rowsPerCopier; n++) expected += line(copier, n);
    if (errors.check(received === expected, where,
      `COPY TO returned ${received.length} bytes, want ${expected.length}; first difference at ${firstDiff(received, expected)}`)) {
      rowsVerified += rowsPerCopier;
    }
    // The connection still answers ordinary queries after the COPYs.
    const { rows } = await c.query('SELECT $1::int + 1 AS v', [copier]);
    errors.check(rows[0].v === copier + 1, where, `query after COPY returned ${JSON.stringify(rows)}`);
  } finally {
    await c.end();
  }
}

function firstDiff(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `${i}: got ${JSON.stringify(a.slice(i, i + 40))} want ${JSON.stringify(b.slice(i, i + 40))}`;
}

async function main() {
  const started = Date.now();
  await Promise.all(Array.from({ length: copiers }, (_, i) => oneCopier(i).catch((e) => errors.add(`copier ${i}`, e))));
  errors.exitIfAny('copy');
  console.log(`ok ${copiers} copiers ${rowsVerified} rows ${errors.count} errors in ${Date.now() - started} ms`);
}

main().catch((e) => {
  errors.add('main', e);
  errors.exitIfAny('copy');
});
