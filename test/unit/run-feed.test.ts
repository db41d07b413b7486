import { describe, expect, it } from "vitest";
import { parseEnqueued, parseFinished } from "../../src/db/run-feed.js";

describe("run feed payloads", () => {
  it("reads a finished payload of one run, of a batch, and skips what is not an entry", () => {
    expect(parseFinished("42:SUCCESSFUL")).toEqual([{ id: "42", status: "SUCCESSFUL" }]);
    expect(parseFinished("1:SUCCESSFUL,2:FAILED,3:CANCELLED")).toEqual([
      { id: "1", status: "SUCCESSFUL" },
      { id: "2", status: "FAILED" },
      { id: "3", status: "CANCELLED" },
    ]);
    expect(parseFinished("")).toEqual([]);
    expect(parseFinished("garbage,:FAILED,7:EXPIRED")).toEqual([{ id: "7", status: "EXPIRED" }]);
  });

  it("reads enqueued counts, and any-queue forms as null", () => {
    expect(parseEnqueued('{"emails":3}')).toEqual({ emails: 3 });
    expect(parseEnqueued('{"*":0}')).toBeNull();
    expect(parseEnqueued("not json")).toBeNull();
    expect(parseEnqueued("[1]")).toBeNull();
  });
});
