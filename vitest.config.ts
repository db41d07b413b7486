import { defineConfig } from "vitest/config";

// Two projects: `unit` needs neither PostgreSQL nor a build; `db` gets a server (DATABASE_URL or an
// embedded one) from its globalSetup, and some of its files run dist/. `vitest run` runs both.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "db",
          include: ["test/db/**/*.test.ts"],
          globalSetup: ["./test/support/global-setup.ts"],
        },
      },
    ],
  },
});
