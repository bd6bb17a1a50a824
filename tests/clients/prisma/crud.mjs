// Prisma Client 7 (@prisma/adapter-pg) through pgfunnel: concurrent CRUD plus interactive transactions, one rolled back.
//
//   node crud.mjs URL SCHEMA REQUESTS
//
// Needs `prisma generate` first (the client lands in node_modules/.prisma/client) and the tables of
// prisma/migrations in SCHEMA. Runs REQUESTS concurrent requests; each one
//   - creates an account, reads it back by its unique email, updates it;
//   - creates and deletes a second account;
//   - runs an interactive transaction ($transaction(async tx => …)) that moves money and records a
//     transfer, and checks that its statements ran in one PostgreSQL transaction on one backend
//     (same txid and pid): pgfunnel must keep the server leased until COMMIT;
//   - runs an interactive transaction that throws after writing, and checks nothing of it remains;
//   - runs a batch $transaction([...]).
// Prints `ok N requests … 0 errors` and exits 0 only when every check held.
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '@prisma/client'

const [url, schema, requestsArg] = process.argv.slice(2)
if (!url || !schema) {
  console.error('usage: node crud.mjs URL SCHEMA [REQUESTS]')
  process.exit(2)
}
const requests = Number(requestsArg ?? 50)

// Prisma's own pool (node-postgres, 10 connections by default) in front of pgfunnel's pooled
// listener: the schema goes to the query compiler (qualified names), not to search_path.
const adapter = new PrismaPg({ connectionString: url, max: 10 }, { schema })
const prisma = new PrismaClient({ adapter })

// Generous limits: 50 requests share 10 connections, and the point is correctness, not latency.
const txOptions = { maxWait: 60_000, timeout: 60_000 }

class CheckFailed extends Error {}
function check(cond, what) {
  if (!cond) throw new CheckFailed(what)
}

const started = Date.now()
let rolledBack = 0
const errors = []

async function request(i) {
  const email = `user${i}@example.test`

  // Create, read back by the unique key, update.
  const created = await prisma.account.create({ data: { email, name: `user ${i}`, balance: 100 } })
  const found = await prisma.account.findUnique({ where: { email } })
  check(found && found.id === created.id && found.balance === 100, `request ${i}: findUnique after create`)
  const renamed = await prisma.account.update({ where: { id: created.id }, data: { name: `renamed ${i}` } })
  check(renamed.name === `renamed ${i}`, `request ${i}: update`)

  // Create and delete a second account.
  const temp = await prisma.account.create({ data: { email: `temp${i}@example.test`, name: 'temp' } })
  await prisma.account.delete({ where: { id: temp.id } })
  check((await prisma.account.findUnique({ where: { id: temp.id } })) === null, `request ${i}: delete`)

  // Interactive transaction that commits: every statement in one transaction on one backend.
  const inTx = await prisma.$transaction(async (tx) => {
    const [before] = await tx.$queryRaw`SELECT txid_current()::text AS txid, pg_backend_pid() AS pid`
    const debited = await tx.account.update({ where: { id: created.id }, data: { balance: { decrement: 30 } } })
    await tx.transfer.create({ data: { accountId: created.id, amount: -30, note: `committed ${i}` } })
    const [after] = await tx.$queryRaw`SELECT txid_current()::text AS txid, pg_backend_pid() AS pid`
    return { before, after, balance: debited.balance }
  }, txOptions)
  check(inTx.before.txid === inTx.after.txid, `request ${i}: interactive transaction spans two transactions (txid ${inTx.before.txid} then ${inTx.after.txid})`)
  check(inTx.before.pid === inTx.after.pid, `request ${i}: interactive transaction moved from backend ${inTx.before.pid} to ${inTx.after.pid}`)
  check(inTx.balance === 70, `request ${i}: balance in transaction ${inTx.balance}, want 70`)

  // Interactive transaction that throws after writing: all of it must roll back.
  const marker = new Error(`roll back ${i}`)
  try {
    await prisma.$transaction(async (tx) => {
      await tx.account.update({ where: { id: created.id }, data: { balance: { decrement: 1000 } } })
      await tx.transfer.create({ data: { accountId: created.id, amount: -1000, note: `rolled back ${i}` } })
      throw marker
    }, txOptions)
    check(false, `request ${i}: the throwing transaction did not throw`)
  } catch (e) {
    if (e !== marker) throw e
    rolledBack++
  }

  // Batch transaction: both reads in one transaction.
  const [account, transfers] = await prisma.$transaction([
    prisma.account.findUnique({ where: { id: created.id }, include: { transfers: true } }),
    prisma.transfer.count({ where: { accountId: created.id } }),
  ])
  check(account.balance === 70, `request ${i}: balance after rollback ${account.balance}, want 70`)
  check(transfers === 1 && account.transfers.length === 1 && account.transfers[0].note === `committed ${i}`,
    `request ${i}: transfers after rollback ${JSON.stringify(account.transfers)}`)
}

const results = await Promise.allSettled(Array.from({ length: requests }, (_, i) => request(i)))
for (const r of results) if (r.status === 'rejected') errors.push(r.reason)

// Totals, read back through Prisma as well.
let accounts = -1
let transfers = -1
try {
  accounts = await prisma.account.count()
  transfers = await prisma.transfer.count()
  if (accounts !== requests) errors.push(new CheckFailed(`${accounts} accounts, want ${requests}`))
  if (transfers !== requests) errors.push(new CheckFailed(`${transfers} transfers, want ${requests}`))
} catch (e) {
  errors.push(e)
}
await prisma.$disconnect()

for (const e of errors.slice(0, 10)) console.error(`error: ${e?.stack ?? e}`)
const seconds = ((Date.now() - started) / 1000).toFixed(1)
console.log(`${errors.length === 0 ? 'ok' : 'FAILED'} ${requests} requests ${accounts} accounts ${transfers} transfers ${rolledBack} rolled back ${errors.length} errors (${seconds} s)`)
process.exit(errors.length === 0 ? 0 : 1)
