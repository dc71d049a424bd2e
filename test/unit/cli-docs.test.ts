// Unit: docs/cli.md against the commander program main.ts builds (with fake dependencies): every verb has a
// synopsis, every flag is in its verb's section, and the page names no verb or flag that does not exist.
// Does not prove that the prose says what a verb does.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { Command, Option } from "commander";
import { describe, expect, it } from "vitest";
import type { VerbDeps } from "../../cli/deps";
import { buildProgram } from "../../cli/main";

const DOC = "docs/cli.md";
const text = readFileSync(path.join(__dirname, "..", "..", DOC), "utf8");

/** The program as main.ts builds it; nothing here is ever called. */
function program(): Command {
  const no = async (): Promise<never> => {
    throw new Error("test: not called");
  };
  const deps: VerbDeps = {
    connect: no,
    stdout: { write: () => true },
    stderr: { write: () => true },
    env: {},
    cwd: "/nonexistent",
    homeDir: "/nonexistent",
    readFile: no,
    secretReader: { env: {}, readFile: no, run: no },
    startDemoSshd: no,
    environmentDriver: no,
    destroyEnvironment: no,
    operationLockDir: () => "/nonexistent",
    gitUserEmail: async () => null,
    userAtHost: () => "me@laptop",
    setExitCode: () => undefined,
  };
  return buildProgram(deps);
}

/** Every command below the program with its path (`accessory upgrade`), depth first. */
function commands(cmd: Command, prefix: string[] = []): Array<{ path: string; cmd: Command }> {
  return cmd.commands.flatMap((c) => {
    const p = [...prefix, c.name()];
    return [{ path: p.join(" "), cmd: c }, ...commands(c, p)];
  });
}

/** An option's flags; a hidden one's (an old name still taken) only when `hidden` says so. */
function flagsOf(o: Option, hidden = false): string[] {
  return o.hidden && !hidden ? [] : [o.long, o.short].filter((f): f is string => typeof f === "string");
}

/** A `##` section of the page: its title, its code-block lines (continuations joined), its inline code spans and its prose. */
interface Section {
  title: string;
  blockCommands: string[];
  spans: string[];
  prose: string;
}

function sections(markdown: string): Section[] {
  const out: Section[] = [];
  let cur: Section = { title: "(top)", blockCommands: [], spans: [], prose: "" };
  let inBlock = false;
  const proseLines: string[] = [];
  const close = () => {
    const prose = proseLines.join("\n");
    cur.spans = [...prose.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\s+/g, " ").trim());
    cur.prose = prose.replace(/`[^`]+`/g, " ");
    out.push(cur);
    proseLines.length = 0;
  };
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) {
      inBlock = !inBlock;
      continue;
    }
    if (inBlock) {
      // A line indented under a `longshore ...` line continues it.
      if (/^\s/.test(line) && cur.blockCommands.length > 0 && line.trim() !== "") cur.blockCommands[cur.blockCommands.length - 1] += ` ${line.trim()}`;
      else if (line.trim() !== "") cur.blockCommands.push(line.trim());
      continue;
    }
    if (line.startsWith("## ")) {
      close();
      cur = { title: line.slice(3).trim(), blockCommands: [], spans: [], prose: "" };
      continue;
    }
    proseLines.push(line);
  }
  close();
  return out;
}

/** The flags in a piece of text (`--json`, `-f`), up to a lone `--` (what follows it is the remote command's). */
function flagsIn(s: string): string[] {
  const upTo = s.split(/(?:^|\s)--(?:\s|$)/)[0]!;
  return [...upTo.matchAll(/(?<![\w-])(--?[a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[1]!);
}

describe(DOC, () => {
  const prog = program();
  const all = commands(prog);
  const byPath = new Map(all.map((c) => [c.path, c.cmd]));
  const rootFlags = new Set([...prog.options.flatMap((o) => flagsOf(o, true)), "--help", "-h"]);
  const secs = sections(text);
  const topVerbs = new Set(prog.commands.map((c) => c.name()));

  /** A command line from the page (`longshore accessory upgrade NAME IMAGE [-f FILE]`): its verb and flags, or a problem. */
  const resolve = (line: string): { path: string | null; flags: string[]; problem?: string } => {
    const words = line.replace(/^longshore\s*/, "").split(/\s+/).filter(Boolean);
    let cmd: Command = prog;
    const p: string[] = [];
    for (const w of words) {
      const sub = cmd.commands.find((c) => c.name() === w);
      if (sub) {
        cmd = sub;
        p.push(w);
        continue;
      }
      // A lower-case word right after a verb that has verbs of its own must be one of them.
      if (/^[a-z][a-z-]*$/.test(w) && (cmd === prog || cmd.commands.length > 0)) {
        return { path: null, flags: [], problem: `\`${line}\`: longshore has no verb \`${[...p, w].join(" ")}\`` };
      }
      break;
    }
    return { path: p.join(" ") || null, flags: flagsIn(words.slice(p.length).join(" ")) };
  };

  /** The flags a verb takes (the program's own count everywhere). */
  const takes = (verb: string | null): Set<string> => new Set([...rootFlags, ...(verb === null ? [] : byPath.get(verb)!.options.flatMap((o) => flagsOf(o, true)))]);

  /** Each section's verbs: those whose synopsis is in its code blocks. */
  const synopses = new Map<string, string[]>();
  for (const s of secs) {
    for (const line of s.blockCommands.filter((l) => /^longshore(\s|$)/.test(l))) {
      const r = resolve(line);
      if (r.path !== null) synopses.set(r.path, [...new Set([...(synopses.get(r.path) ?? []), s.title])]);
    }
  }

  it("documents every verb with a synopsis line in a code block", () => {
    const missing = all.filter((c) => c.cmd.commands.length === 0 && !synopses.has(c.path)).map((c) => `longshore ${c.path}`);
    expect(missing).toEqual([]);
  });

  it("names every flag of a verb in the section of its synopsis; the program's own flags somewhere", () => {
    const missing: string[] = [];
    for (const c of all) {
      const titles = synopses.get(c.path) ?? [];
      if (titles.length === 0) continue;
      const inSections = new Set(secs.filter((s) => titles.includes(s.title)).flatMap((s) => [...s.blockCommands, ...s.spans, s.prose].flatMap(flagsIn)));
      for (const f of c.cmd.options.flatMap((o) => flagsOf(o))) if (!inSections.has(f)) missing.push(`longshore ${c.path}: ${f} (section "${titles.join('", "')}")`);
    }
    const everywhere = new Set(secs.flatMap((s) => [...s.blockCommands, ...s.spans, s.prose].flatMap(flagsIn)));
    for (const f of prog.options.flatMap((o) => flagsOf(o))) if (!everywhere.has(f)) missing.push(`longshore: ${f}`);
    expect(missing).toEqual([]);
  });

  it("names no verb and no flag that does not exist", () => {
    const problems: string[] = [];
    // A section with no synopsis of its own (Exit codes) may name any verb's flags.
    const anyVerb = new Set([...rootFlags, ...all.flatMap((c) => [...takes(c.path)])]);
    for (const s of secs) {
      // Verbs whose synopsis is in this section: the flags its prose and bare code spans may name.
      const own = new Set([...synopses].filter(([, titles]) => titles.includes(s.title)).flatMap(([p]) => [...takes(p)]));
      const check = (where: string, flags: string[], allowed: Set<string>) => {
        for (const f of flags) if (!allowed.has(f)) problems.push(`${s.title}: ${where}: ${f} is not a flag of it`);
      };
      const lines = [...s.blockCommands, ...s.spans];
      for (const l of lines) {
        const first = l.split(" ")[0]!;
        // `longshore rollout ...`, or a verb's own words in prose (`plan --detailed-exitcode`, `local up --env NAME`).
        const isOurs = first === "longshore" || (topVerbs.has(first) && flagsIn(l).length > 0);
        if (isOurs) {
          const r = resolve(l);
          if (r.problem) problems.push(`${s.title}: ${r.problem}`);
          else check(`\`${l}\``, r.flags, takes(r.path));
        } else if (first.startsWith("-")) check(`\`${l}\``, flagsIn(l), own.size ? own : anyVerb);
        // Anything else is another tool's (`sha256sum --check`, `git config --get`) or a value.
      }
      check("prose", flagsIn(s.prose).filter((f) => f.startsWith("--")), own.size ? own : anyVerb);
    }
    expect(problems).toEqual([]);
  });
});

describe("flags mean the same on every verb", () => {
  const all = commands(program());
  /** Verbs that break a convention on purpose, each with why; a new one must be added here to pass. */
  const EXCEPTIONS: Record<string, string> = {
    // docker exec -i: an interactive session. Reported (issue 14): -i is an inventory everywhere else.
    "app exec -i": "--interactive",
  };
  const uses = (short: string, long: string) =>
    all.flatMap((c) =>
      c.cmd.options
        .filter((o) => (o.short === short) !== (o.long === long) && EXCEPTIONS[`${c.path} ${short}`] !== o.long)
        .map((o) => `longshore ${c.path}: ${[o.short, o.long].filter(Boolean).join(", ")}`),
    );

  it("-f is --file (the environment file), -i is --inventory, on every verb that takes them", () => {
    expect([...uses("-f", "--file"), ...uses("-i", "--inventory")]).toEqual([]);
  });

  it("--env takes a local environment's name, --json is a switch, and no verb has another name for them", () => {
    const problems = all.flatMap((c) =>
      c.cmd.options.flatMap((o) => {
        if (o.long === "--env" && o.flags !== "--env <name>") return [`longshore ${c.path}: ${o.flags}`];
        if (o.long === "--json" && o.flags !== "--json") return [`longshore ${c.path}: ${o.flags}`];
        if (!o.hidden && /^--(local-env|env-file|environment|inventory-file|format)$/.test(o.long ?? "")) return [`longshore ${c.path}: ${o.flags}`];
        return [];
      }),
    );
    expect(problems).toEqual([]);
  });
});
