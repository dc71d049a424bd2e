/**
 * Reading YAML that users wrote: syntax errors, duplicate keys and bad aliases become config issues
 * with a line and column, and the parsed Document is kept so a file can be updated without losing
 * the user's comments. Every user YAML file (the environment file, the inventory) is read here.
 */
import { isAlias, isCollection, isNode, isPair, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import type { ConfigIssue } from "../core/errors";

/** Parsed YAML: the plain data and the Document it came from, or the syntax problems. */
export type YamlText = { ok: true; data: unknown; doc: Document } | { ok: false; issues: ConfigIssue[] };

/**
 * How many values aliases may copy into a document, in all. An alias shares its anchor's value, so
 * the data is small in memory, but everything that walks it (validation, printing) walks every
 * copy: nine aliases of nine aliases of ... (an "alias bomb") is billions of values from a few
 * lines. Configuration needs far fewer; `yaml`'s own guard (`maxAliasCount`, 100 alias uses) gives
 * no line and refuses 300 hosts that share one anchor, so it is replaced by this one.
 */
export const MAX_ALIASED_VALUES = 10_000;

/** A problem at an offset of the text (sorted by it, then given a line and column). */
interface Located {
  offset: number;
  message: string;
}

/**
 * Parses YAML (or JSON) text. Duplicate keys are errors: a silently ignored key is a bug waiting.
 * So are aliases without an anchor before them, aliases inside the node they name (a cycle) and
 * aliases that copy more than {@link MAX_ALIASED_VALUES} values; each is reported at its line.
 */
export function parseYamlText(text: string, file?: string): YamlText {
  const lineCounter = new LineCounter();
  const where = (pos: { line: number; col: number } | undefined) => {
    const at = pos ? `line ${pos.line}, column ${pos.col}` : "(syntax)";
    return file ? `${file}: ${at}` : at;
  };
  let doc: Document;
  try {
    // `uniqueKeys: false`: yaml compares each key with every earlier key of its map (100,000
    // keys took minutes); the walk below finds duplicates with one set per map instead.
    doc = parseDocument(text, { uniqueKeys: false, prettyErrors: true, lineCounter });
  } catch (e) {
    return { ok: false, issues: [{ path: where(undefined), message: `YAML: ${(e as Error).message}` }] };
  }
  const located: Located[] = doc.errors.map((e) => ({
    offset: e.pos[0],
    // prettyErrors appends " at line N, column M:" and a snippet; the path already says where.
    message: (e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, ""),
  }));
  located.push(...structureIssues(doc));
  if (located.length) {
    located.sort((a, b) => a.offset - b.offset);
    return { ok: false, issues: located.map((l) => ({ path: where(lineCounter.linePos(l.offset)), message: `YAML: ${l.message}` })) };
  }
  try {
    // The walk above bounded what aliases copy; yaml's own alias guard is off (see MAX_ALIASED_VALUES).
    return { ok: true, data: doc.toJS({ maxAliasCount: -1 }), doc };
  } catch (e) {
    return { ok: false, issues: [{ path: where(undefined), message: `YAML: ${(e as Error).message}` }] };
  }
}

/**
 * One walk over the document in text order (the order in which yaml resolves aliases: an alias
 * names the last anchor of that name before it): duplicate keys, unresolved and cyclic aliases,
 * and the number of values aliases copy. Linear in the size of the text.
 */
function structureIssues(doc: Document): Located[] {
  const out: Located[] = [];
  const anchors = new Map<string, unknown>();
  /** Values in each anchored node once its aliases are expanded. */
  const sizes = new Map<unknown, number>();
  /** Anchored nodes being walked: an alias to one of them is inside it. */
  const open = new Set<unknown>();
  let copied = 0;
  let bomb = false;
  const offsetOf = (node: unknown) => (isNode(node) && node.range ? node.range[0] : 0);

  const walk = (node: unknown): number => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) {
        out.push({ offset: offsetOf(node), message: `unresolved alias *${node.source}: no anchor &${node.source} before it` });
        return 1;
      }
      if (open.has(target)) {
        out.push({ offset: offsetOf(node), message: `alias *${node.source} is inside the node &${node.source} it names` });
        return 1;
      }
      const size = sizes.get(target) ?? 1;
      copied += size;
      if (copied > MAX_ALIASED_VALUES && !bomb) {
        bomb = true;
        out.push({ offset: offsetOf(node), message: `alias *${node.source} takes the values copied through aliases past ${MAX_ALIASED_VALUES} (an alias bomb?)` });
      }
      return size;
    }
    const anchor = isNode(node) ? node.anchor : undefined;
    if (anchor) {
      anchors.set(anchor, node);
      open.add(node);
    }
    let size = 1;
    if (isCollection(node)) {
      const keys = new Set<unknown>();
      for (const item of node.items) {
        if (!isPair(item)) {
          size += walk(item);
          continue;
        }
        // yaml's rule for duplicates: scalars with the same value, or the very same node.
        const key = isScalar(item.key) ? item.key.value : item.key;
        if (keys.has(key)) out.push({ offset: offsetOf(item.key), message: "Map keys must be unique" });
        keys.add(key);
        size += walk(item.key) + walk(item.value);
      }
    }
    if (anchor) {
      open.delete(node);
      sizes.set(node, size);
    }
    return size;
  };
  walk(doc.contents);
  return out;
}
