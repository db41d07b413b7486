/**
 * `reproq token --scope read|admin [--ttl 1h]`: prints a JWT for the manager API, signed with
 * jwtSecret (or the key derived from metricsAuthToken), so operators and the TUI get one without
 * pairing. Needs no database.
 */
import { UsageError } from "../../errors.js";
import { type IssuedToken, isScope, issueToken, type Scope, tokenKeys } from "../../http/tokens.js";
import { defineCommand } from "../define.js";
import { durationFlag } from "../flags.js";

interface TokenFlags {
  scope: string;
  ttl?: string;
}

const EXAMPLES = `
Examples:
  $ reproq token --scope read                 a read-only JWT for jwtTtl (default 1h)
  $ reproq token --scope admin --ttl 15m
  $ curl -H "Authorization: Bearer $(reproq token --scope read)" http://127.0.0.1:8080/reproq/stats/
  $ reproq --json token --scope read          print { token, scope, expiresAt }
`;

export const tokenCommand = defineCommand<
  TokenFlags,
  { scope: Scope; ttlMs: number | undefined },
  IssuedToken
>({
  name: "token",
  description: "print a signed JWT (read or admin scope) for the manager API",
  options: [
    { flags: "--scope <scope>", description: "read or admin", required: true },
    { flags: "--ttl <duration>", description: "lifetime (default: the jwtTtl setting, 1h)" },
  ],
  help: EXAMPLES,
  parse: (flags) => {
    if (!isScope(flags.scope))
      throw new UsageError(`--scope: "${flags.scope}" is not valid; give read or admin`);
    return {
      scope: flags.scope,
      ttlMs: flags.ttl === undefined ? undefined : durationFlag(flags.ttl, "--ttl"),
    };
  },
  run: (ctx, { scope, ttlMs }) =>
    issueToken(tokenKeys(ctx.config.values), scope, ttlMs ?? ctx.config.values.jwtTtl),
  text: (issued) => issued.token,
});
