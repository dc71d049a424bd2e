// Redaction of Sensitive values in every text conversion Node offers: does NOT prove that code never calls reveal() where it should not.
import { describe, expect, it } from "vitest";
import { format, inspect } from "node:util";
import { Sensitive, isSensitive, redactText, sensitive, REDACTED_TEXT } from "../../core/sensitive";

describe("Sensitive", () => {
  const s = sensitive("correct horse battery staple");

  it("prints [redacted] through every conversion to text", () => {
    const views = [
      String(s),
      `${s}`,
      "" + s,
      s.toString(),
      JSON.stringify(s),
      JSON.stringify({ password: s, nested: [s] }),
      inspect(s),
      inspect({ deep: { deeper: { s } } }, { depth: 10, showHidden: true }),
      format("%s %o %O %j", s, s, { s }, { s }),
      new Error(`login failed with ${s}`).message,
    ];
    expect(views).toEqual([
      "[redacted]",
      "[redacted]",
      "[redacted]",
      "[redacted]",
      '"[redacted]"',
      '{"password":"[redacted]","nested":["[redacted]"]}',
      "[redacted]",
      "{ deep: { deeper: { s: [redacted] } } }",
      "[redacted] [redacted] { s: [redacted] } {\"s\":\"[redacted]\"}",
      "login failed with [redacted]",
    ]);
    expect(views.join("\n")).not.toContain("horse");
  });

  it("gives the clear value back only through reveal()", () => {
    expect(s.reveal()).toBe("correct horse battery staple");
    expect(REDACTED_TEXT).toBe("[redacted]");
  });

  it("wraps idempotently and is recognised", () => {
    expect(sensitive(s)).toBe(s);
    expect(isSensitive(s)).toBe(true);
    expect(isSensitive("x")).toBe(false);
    expect(new Sensitive("x")).toBeInstanceOf(Sensitive);
  });
});

describe("redactText", () => {
  it.each([
    ["token abcd1234 twice abcd1234", ["abcd1234"], "token [redacted] twice [redacted]"],
    ["the password is hunter22", [sensitive("hunter22")], "the password is [redacted]"],
    // Longest first: a secret containing another is replaced whole.
    ["key=secret-long", ["secret", "secret-long"], "key=[redacted]"],
    // Shorter than 4 characters: skipped, it would shred ordinary text.
    ["a b c abc", ["abc"], "a b c abc"],
    ["multi\nline secret\nvalue", ["line secret\nvalue"], "multi\n[redacted]"],
    ["nothing here", [], "nothing here"],
    ["regex chars a.*b and a+b", ["a.*b"], "regex chars [redacted] and a+b"],
  ])("redacts %j", (text, secrets, expected) => {
    expect(redactText(text, secrets)).toBe(expected);
  });
});
