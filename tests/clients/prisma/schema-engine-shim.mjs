#!/usr/bin/env node
// Stands in for Prisma's native schema-engine binary (PRISMA_SCHEMA_ENGINE_BINARY) so the Prisma 7 CLI runs offline.
//
// The stock CLI downloads a native schema engine before each command; without internet that fails.
// This program speaks the same interface as the binary, the way prisma 7.10's CLI drives it
// (SchemaEngineCLI in its build/cli.js):
//
//   shim --version                                              -> "schema-engine-cli <hash>"
//   shim --datasource '{"url":…}' cli can-connect-to-database   -> exit 0, or JSON error log + exit 1
//   shim --datasource '{"url":…}' cli create-database           -> CREATE DATABASE
//   shim [--datamodels FILE]… [--datasource JSON] [...]         -> JSON-RPC 2.0, one object per line on
//                                                                  stdin/stdout, JSON log lines on stderr
//
// Each RPC is answered by Prisma's own WebAssembly schema engine (@prisma/schema-engine-wasm, the
// version prisma 7.10.0 pins) over @prisma/adapter-pg, so the SQL it runs is the engine's own.
//
// One pg connection for the whole engine lifetime (pg.Pool max 1, no idle timeout), like the native
// engine: Prisma Migrate takes the session-level pg_advisory_lock(72707369) and runs every later
// statement on that same session, which is what pgfunnel must honour through its pooled listener.
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'

import { PrismaPg } from '@prisma/adapter-pg'
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'
import * as bg from '@prisma/schema-engine-wasm/schema_engine_bg'
import pg from 'pg'

// --- logging: the CLI parses our stderr as the binary's JSON log lines ------------------------------
function log(level, message, extra = {}) {
  process.stderr.write(JSON.stringify({ timestamp: new Date().toISOString(), level, target: 'schema_engine::logger', fields: { message, ...extra } }) + '\n')
}
const debugOn = /schema-engine-shim|\*/.test(process.env.DEBUG ?? '')
const debug = (message) => debugOn && log('DEBUG', message)

// --- arguments ---------------------------------------------------------------------------------------
function parseArgs(argv) {
  const out = { datamodels: [], datasource: undefined, previewFeatures: [], cli: null, version: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--version' || a === '-V') out.version = true
    else if (a === '--datamodels' || a === '-d') out.datamodels.push(argv[++i])
    else if (a === '--datasource') out.datasource = JSON.parse(argv[++i])
    else if (a === '--enabled-preview-features') out.previewFeatures = argv[++i].split(',') // the wasm engine takes none
    else if (a === '--extension-types') i++ // PostgreSQL extension types: unused by the wasm engine
    else if (a === 'cli') out.cli = argv.slice(i + 1)
    if (a === 'cli') break
  }
  return out
}

// --- the wasm engine, instantiated by hand -------------------------------------------------------------
// The package's entry does `import * as wasm from "./schema_engine_bg.wasm"`, which Node 20 only
// accepts with --experimental-wasm-modules; instantiating the module ourselves needs no flag.
let wasmReady = null
function loadWasm() {
  if (!wasmReady) {
    // Prisma's panic hook writes the panic text into this registry before the wasm traps.
    globalThis.PRISMA_WASM_PANIC_REGISTRY ??= {
      message: '',
      get() { return this.message },
      set_message(m) { this.message = `RuntimeError: ${m}` },
    }
    const url = new URL('./schema_engine_bg.wasm', import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg'))
    const module = new WebAssembly.Module(readFileSync(url))
    const instance = new WebAssembly.Instance(module, { './schema_engine_bg.js': bg })
    bg.__wbg_set_wasm(instance.exports)
    instance.exports.__wbindgen_start()
    wasmReady = bg
  }
  return wasmReady
}

// --- connection URL -> pg config ----------------------------------------------------------------------
// Prisma URLs carry `schema=` (and maybe pgbouncer=, connection_limit=…) which pg does not know. The
// native engine uses `schema` for its migrations table and as search_path; the migration SQL itself
// is unqualified, so the session needs that search_path. It goes in the startup packet (`options`),
// not a SET, so a transaction-pooling proxy can carry it from server to server.
// Discrete fields, not connectionString: adapter-pg makes the shadow database's pool from
// {...config, database}, and a connectionString would override that database.
function pgConfig(url) {
  const u = new URL(url)
  const q = u.searchParams
  const schema = q.get('schema') ?? 'public'
  const sslmode = q.get('sslmode')
  return {
    schema,
    config: {
      host: q.get('host') ?? decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')),
      port: Number(u.port || 5432),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database: decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username),
      ssl: sslmode && sslmode !== 'disable' && sslmode !== 'prefer' ? { rejectUnauthorized: sslmode === 'verify-full' } : false,
      options: `-c search_path="${schema.replaceAll('"', '""')}"`,
      max: 1, // one session for the engine's lifetime, as the native engine
      idleTimeoutMillis: 0, // never drop it: a session-level advisory lock lives on it
      application_name: 'prisma-schema-engine-shim',
    },
  }
}

// adapter-pg 7.10 rejects PostgreSQL's internal "char" type (OID 18, in pg_class.relkind and other
// catalog columns), so describing a database (migrate diff from a database or the shadow database)
// fails. Its text form is a one-character string: report it as text (OID 25).
function charAsText(result) {
  for (const f of result?.fields ?? []) if (f.dataTypeID === 18) f.dataTypeID = 25
  return result
}
function poolWithCharAsText(config) {
  const pool = new pg.Pool(config)
  pool.on('connect', (client) => {
    const query = client.query.bind(client)
    client.query = (...args) => {
      const cb = typeof args.at(-1) === 'function' ? args.pop() : null
      if (cb) return query(...args, (err, res) => cb(err, charAsText(res)))
      const r = query(...args)
      return typeof r?.then === 'function' ? r.then(charAsText) : r
    }
  })
  return pool
}

// A migration-aware adapter factory for `url`; the shadow database (migrate dev/diff from migrations)
// is the configured shadowDatabaseUrl if any, else adapter-pg's own create-a-temporary-database.
function adapterFactory(datasource) {
  if (!datasource?.url) {
    // Schema-only work (migrate diff --from-empty --to-schema …) needs no database, but the engine
    // connects at start-up: hand it a connection that fails only when used.
    const none = async (q) => {
      debug(`offline adapter asked for ${JSON.stringify(q)}`)
      throw new Error('no datasource url: set DATABASE_URL (prisma.config.ts reads it)')
    }
    const offline = {
      provider: 'postgres',
      adapterName: '@prisma/adapter-pg',
      queryRaw: none,
      executeRaw: none,
      executeScript: none,
      startTransaction: none,
      getConnectionInfo: () => ({ schemaName: 'public', supportsRelationJoins: true }),
      dispose: async () => {},
    }
    return bindMigrationAwareSqlAdapterFactory({ provider: 'postgres', adapterName: '@prisma/adapter-pg', connect: async () => offline, connectToShadowDb: none })
  }
  const { schema, config } = pgConfig(datasource.url)
  const factory = new PrismaPg(poolWithCharAsText(config), { schema, disposeExternalPool: true })
  if (datasource.shadowDatabaseUrl) {
    const shadow = pgConfig(datasource.shadowDatabaseUrl)
    const shadowFactory = new PrismaPg(poolWithCharAsText(shadow.config), { schema: shadow.schema, disposeExternalPool: true })
    factory.connectToShadowDb = () => shadowFactory.connect()
  } else {
    // adapter-pg's own: CREATE DATABASE prisma_migrate_shadow_db_<uuid> through the main connection,
    // a pool on it with the same settings, DROP DATABASE when done.
    factory.connectToShadowDb = async () => {
      const conn = await factory.connect()
      const database = `prisma_migrate_shadow_db_${globalThis.crypto.randomUUID()}`
      await conn.executeScript(`CREATE DATABASE "${database}"`)
      const shadowFactory = new PrismaPg(poolWithCharAsText({ ...config, database }), { schema, disposeExternalPool: true })
      const adapter = await shadowFactory.connect()
      const dispose = adapter.dispose.bind(adapter)
      adapter.dispose = async () => {
        await dispose()
        await conn.executeScript(`DROP DATABASE "${database}"`)
      }
      return adapter
    }
  }
  return bindMigrationAwareSqlAdapterFactory(factory)
}

// --- errors in the binary's JSON-RPC shape --------------------------------------------------------------
// The CLI turns data.error_code + data.message into its EngineError (e.g. P3005), is_panic into a
// panic report, anything else into "Error in RPC".
function rpcError(e, registry) {
  let err = e
  // An exception thrown inside the JS adapter is parked in the registry and the wasm reports its id.
  const id = /External error id#(\d+)/.exec(String(e?.message ?? ''))?.[1]
  if (id !== undefined && registry) err = registry.consumeError(Number(id))?.error ?? e
  const message = String(err?.message ?? err)
  const isPanic = e instanceof WebAssembly.RuntimeError || /^RuntimeError/.test(message) || e?.name === 'RuntimeError'
  const data = { is_panic: isPanic, message: isPanic ? globalThis.PRISMA_WASM_PANIC_REGISTRY?.get() || message : message, backtrace: err?.stack }
  if (typeof err?.code === 'string' && /^P\d{4}$/.test(err.code)) {
    data.error_code = err.code
    data.meta = err.meta ?? {}
  }
  return { code: 4466, message: 'An error happened. Check the data field for details.', data }
}

// CREATE DATABASE for the URL's database, from a connection to the `postgres` database.
async function createDatabase(url) {
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  target.pathname = '/postgres'
  const c = new pg.Client(pgConfig(target.toString()).config)
  try {
    await c.connect()
    await c.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`)
    return name
  } finally {
    await c.end().catch(() => {})
  }
}

// --- `cli` subcommands (run by the CLI through execa before migrate deploy/status/dev) ------------------
function cliErrorCode(e) {
  switch (e?.code) {
    case '3D000': return 'P1003' // database does not exist: the CLI then asks us to create it
    case '28P01': case '28000': return 'P1000'
    case 'ECONNREFUSED': case 'ENOTFOUND': case 'EHOSTUNREACH': return 'P1001'
    case 'ETIMEDOUT': return 'P1002'
    default: return 'P1001'
  }
}

async function runCli(args, datasource) {
  const [command] = args
  // The CLI skips the first stderr line (the native engine's start-up log) before looking for errors.
  log('INFO', `schema-engine shim: cli ${command}`)
  const fail = (e) => {
    log('ERROR', String(e?.message ?? e), { error_code: cliErrorCode(e) })
    return 1
  }
  if (command === 'can-connect-to-database') {
    let c = null
    try {
      c = new pg.Client(pgConfig(datasource?.url).config)
      await c.connect()
      await c.query('SELECT 1')
      return 0
    } catch (e) {
      return fail(e)
    } finally {
      await c?.end().catch(() => {})
    }
  }
  if (command === 'create-database') {
    try {
      process.stdout.write(`${await createDatabase(datasource?.url)}\n`)
      return 0
    } catch (e) {
      return fail(e)
    }
  }
  return fail(new Error(`schema-engine shim: unknown cli command ${command}`))
}

// --- the JSON-RPC loop ----------------------------------------------------------------------------------
async function runRpc(opts) {
  const wasm = loadWasm()
  const datamodels = opts.datamodels.length > 0 ? opts.datamodels.map((p) => [p, readFileSync(p, 'utf8')]) : undefined
  let engine = null
  let factory = null
  const getEngine = async () => {
    if (!engine) {
      factory = adapterFactory(opts.datasource)
      engine = await wasm.SchemaEngine.new({ datamodels }, (line) => debug(String(line)), factory)
    }
    return engine
  }

  let nextOwnId = 1_000_000 // ids of the requests we send to the CLI (print)
  const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

  // Methods whose binary name or argument shape differs from the wasm engine's.
  const handlers = {
    version: async () => wasm.version(),
    getDatabaseVersion: async (params) => (await getEngine()).version(params ?? null),
    debugPanic: async () => (await getEngine()).debugPanic(),
    createDatabase: async (params) => ({ databaseName: await createDatabase(params?.datasource?.url ?? opts.datasource?.url) }),
    diff: async (params) => {
      // The binary prints the diff through a `print` request to the CLI; the wasm engine returns it.
      const { stdout, ...rest } = await (await getEngine()).diff(params)
      if (stdout) send({ id: nextOwnId++, jsonrpc: '2.0', method: 'print', params: { content: stdout.replace(/\n$/, '') } })
      return rest
    },
  }
  const passthrough = new Set([
    'applyMigrations', 'createMigration', 'dbExecute', 'devDiagnostic', 'diagnoseMigrationHistory',
    'ensureConnectionValidity', 'evaluateDataLoss', 'introspect', 'introspectSql', 'markMigrationApplied',
    'markMigrationRolledBack', 'reset', 'schemaPush',
  ])

  // Requests run one at a time, in order, as the binary does.
  let chain = Promise.resolve()
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', (line) => {
    if (!line.trim()) return
    let msg
    try {
      msg = JSON.parse(line)
    } catch {
      log('ERROR', `schema-engine shim: unparsable request ${line.slice(0, 200)}`)
      return
    }
    if (msg.method === undefined) return // a response to our own print request
    chain = chain.then(async () => {
      debug(`rpc ${msg.method} ${JSON.stringify(msg.params ?? null).slice(0, 500)}`)
      try {
        let result
        if (handlers[msg.method]) result = await handlers[msg.method](msg.params)
        else if (passthrough.has(msg.method)) {
          const e = await getEngine()
          result = await e[msg.method](msg.params)
        } else throw new Error(`schema-engine shim: method ${msg.method} is not supported by the wasm engine`)
        send({ jsonrpc: '2.0', id: msg.id, result: result ?? {} })
      } catch (e) {
        debug(`rpc ${msg.method} failed: ${e?.stack ?? e}`)
        send({ jsonrpc: '2.0', id: msg.id, error: rpcError(e, factory?.errorRegistry) })
      }
    })
  })
  // stdin closed: the CLI is done with us (it also SIGTERMs us right after).
  rl.on('close', () => {
    chain.finally(() => {
      try {
        engine?.free()
      } catch {}
      process.exit(0)
    })
  })
}

const opts = parseArgs(process.argv.slice(2))
if (opts.version) {
  process.stdout.write(`schema-engine-cli ${loadWasm().version()}\n`)
} else if (opts.cli) {
  process.exitCode = await runCli(opts.cli, opts.datasource)
} else {
  await runRpc(opts)
}
