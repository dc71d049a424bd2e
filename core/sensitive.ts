/**
 * Secrets travel as {@link Sensitive} so that every way of turning them into text (string
 * concatenation, template literals, JSON, `util.inspect`, error messages) prints `[redacted]`.
 * Only {@link Sensitive.reveal} gives the value back, and only the edges that must hand it to a
 * process (stdin, an env file, a private key for ssh2) call it.
 */

const REDACTED = "[redacted]";

/** A secret value that prints as `[redacted]` everywhere. */
export class Sensitive {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The clear value. Call only where it must leave the process (stdin, a 0600 file, ssh2 auth). */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return REDACTED;
  }
}

/** Wraps a value as sensitive (idempotent). */
export function sensitive(value: string | Sensitive): Sensitive {
  return value instanceof Sensitive ? value : new Sensitive(value);
}

/** True for a {@link Sensitive}. */
export function isSensitive(value: unknown): value is Sensitive {
  return value instanceof Sensitive;
}

/** The text shown in place of a secret. */
export const REDACTED_TEXT = REDACTED;

/**
 * Replaces every occurrence of each secret's clear value in `text` by `[redacted]`.
 * Used on text that came back from a host (stderr, stdout tails) which may echo a secret.
 * Secrets shorter than 4 characters are skipped: replacing them would shred ordinary text
 * and they protect nothing.
 */
export function redactText(text: string, secrets: Iterable<Sensitive | string>): string {
  let out = text;
  const values = [...secrets]
    .map((s) => (s instanceof Sensitive ? s.reveal() : s))
    .filter((v) => v.length >= 4)
    // Longest first, so a secret that contains another is replaced whole.
    .sort((a, b) => b.length - a.length);
  for (const v of values) out = out.split(v).join(REDACTED);
  return out;
}
