// Shared helpers for the node-postgres client programs: argument parsing, deadline, error tally, exit.
'use strict';

// Every program takes the pooled URL as its first argument and must finish within the deadline.
function parseArgs(usage) {
  const url = process.argv[2];
  if (!url) {
    console.error(`usage: node ${usage}`);
    process.exit(64);
  }
  const numbers = process.argv.slice(3).map((s) => Number.parseInt(s, 10));
  return { url, numbers };
}

function startDeadline(seconds, what) {
  const timer = setTimeout(() => {
    console.error(`FAIL ${what}: still running after ${seconds}s (deadline)`);
    process.exit(3);
  }, seconds * 1000);
  timer.unref();  // does not keep the event loop alive; fires only if the work is stuck
}

// Collects unexpected errors; `check` records a failed expectation as one.
class Errors {
  constructor() {
    this.list = [];
  }
  add(where, err) {
    const text = err && err.stack ? err.stack : String(err);
    this.list.push(`${where}: ${text}`);
  }
  check(cond, where, message) {
    if (!cond) this.add(where, new Error(message));
    return cond;
  }
  get count() {
    return this.list.length;
  }
  // Prints up to 20 errors and exits non-zero when there was any; prints nothing otherwise.
  exitIfAny(what) {
    if (this.list.length === 0) return;
    for (const e of this.list.slice(0, 20)) console.error(e);
    if (this.list.length > 20) console.error(`... and ${this.list.length - 20} more`);
    console.error(`FAIL ${what}: ${this.list.length} errors`);
    process.exit(1);
  }
}

function installCrashHandlers(what) {
  for (const event of ['unhandledRejection', 'uncaughtException']) {
    process.on(event, (err) => {
      console.error(`FAIL ${what}: ${event}: ${err && err.stack ? err.stack : err}`);
      process.exit(1);
    });
  }
}

module.exports = { parseArgs, startDeadline, Errors, installCrashHandlers };
