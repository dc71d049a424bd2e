/**
 * Reading YAML that users wrote: syntax errors become config issues with a line and column, and the
 * parsed Document is kept so a file can be updated without losing the user's comments.
 */
import { parseDocument, type Document } from "yaml";
import type { ConfigIssue } from "../core/errors";

/** Parsed YAML: the plain data and the Document it came from, or the syntax problems. */
export type YamlText = { ok: true; data: unknown; doc: Document } | { ok: false; issues: ConfigIssue[] };

/** Parses YAML (or JSON) text. Duplicate keys are errors: a silently ignored key is a bug waiting. */
export function parseYamlText(text: string, file?: string): YamlText {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    const issues = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos ? `line ${pos.line}, column ${pos.col}` : "(syntax)";
      // prettyErrors appends " at line N, column M:" and a snippet; the path already says where.
      const message = (e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
      return { path: file ? `${file}: ${where}` : where, message: `YAML: ${message}` };
    });
    return { ok: false, issues };
  }
  return { ok: true, data: doc.toJS(), doc };
}
