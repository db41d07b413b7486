/**
 * Migration 14: the TUI's device pairing codes, so every `reproq serve` process behind a load
 * balancer sees the same codes (no sticky routing). A row is a code's state only: an approval
 * records the scope chosen, and the JWT is issued when the TUI picks it up, so no token is ever
 * stored. Rows past expires_at are deleted when new codes are made.
 */
import { quoteIdent } from "../../db/names.js";
import type { Migration } from "./types.js";

function up(schema: string): string {
  const s = quoteIdent(schema);
  return `
CREATE TABLE ${s}.tui_pairings (
  code       text PRIMARY KEY CHECK (code ~ '^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{8}$'),
  status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
  scope      text CHECK (scope IN ('read', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  CHECK ((status IN ('approved', 'consumed')) = (scope IS NOT NULL))
);
CREATE INDEX tui_pairings_expires_at ON ${s}.tui_pairings (expires_at);
`;
}

export const migration0014: Migration = { version: 14, name: "tui_pairings", up };
