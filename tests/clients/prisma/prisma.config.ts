// Prisma 7 CLI configuration for the pgfunnel tests: schema, checked-in migrations, and the URL from DATABASE_URL.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  // `generate` needs no database, so an unset DATABASE_URL must not stop it (env() would throw).
  datasource: { url: process.env.DATABASE_URL ?? '' },
})
