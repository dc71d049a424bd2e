/**
 * `engine.verify`: the running engine is the one planned: server version (the bundle's),
 * containerd and runc versions (the bundle's), storage driver, cgroup driver, live-restore and
 * logging driver as configured. One table of facts drives both forms of the check:
 *
 * - on the host, a read-only `sh` script asks `docker info/version --format <Go template>` for each
 *   fact and prints `label: expected X, got Y` for every mismatch (the step's check and verify);
 * - on the controller, {@link verifyEngineFacts} compares the engine's own JSON
 *   (`docker info --format '{{json .}}'`, `docker version --format '{{json .}}'`, see
 *   {@link engineFactsCommands}) with the same table, for reports and `--json` output.
 */
import { configuredCgroupDriver } from "../../model/engine";
import type { Command } from "../command";
import type { Step } from "../step";
import { renderTemplate } from "../../templates/render";
import { upstreamVersion } from "../bundle/manifest";
import { HOST_PATHS, type ProvisionContext } from "./engine-context";

/** What the engine must report. A null field is not checked. */
export interface ExpectedEngineFacts {
  /** Upstream server version (`20.10.24`); null for the distro channel. */
  serverVersion: string | null;
  containerdVersion: string | null;
  runcVersion: string | null;
  storageDriver: string;
  cgroupDriver: "cgroupfs" | "systemd";
  liveRestore: boolean;
  loggingDriver: string;
}

/** The facts the plan expects on this host. */
export function expectedEngineFacts(ctx: Pick<ProvisionContext, "engine" | "bundle" | "facts">): ExpectedEngineFacts {
  const d = ctx.engine.daemon;
  const pkgs = ctx.engine.channel === "bundle" && ctx.bundle ? ctx.bundle.manifest.packages : null;
  const versionOf = (name: string) => {
    const p = pkgs?.find((x) => x.name === name);
    return p ? upstreamVersion(p.version) : null;
  };
  return {
    serverVersion: pkgs ? (ctx.bundle?.manifest.engineVersion ?? null) : null,
    containerdVersion: versionOf("containerd"),
    runcVersion: versionOf("runc"),
    storageDriver: d["storage-driver"],
    // dockerd's own default when exec-opts does not say: cgroupfs on v1, systemd on v2 (20.10+).
    cgroupDriver: configuredCgroupDriver(d) ?? (ctx.facts.cgroupVersion === 2 ? "systemd" : "cgroupfs"),
    liveRestore: d["live-restore"],
    loggingDriver: d["log-driver"],
  };
}

/** One fact: how to read it on the host (Go template) and from the JSON (function). */
export interface FactRow {
  label: string;
  expected: string;
  source: "info" | "version";
  /** Go template for `docker <source> --format`. */
  format: string;
  /** Compare the upstream part of a version (`20.10.24+dfsg1` → `20.10.24`). */
  upstream: boolean;
  read(info: Json, version: Json): unknown;
}

type Json = Record<string, unknown>;

function component(version: Json, name: string): unknown {
  const server = version["Server"] as Json | undefined;
  const comps = (server?.["Components"] as Json[] | undefined) ?? [];
  return comps.find((c) => c["Name"] === name)?.["Version"];
}

/** The Go template of each fact, for `docker info` or `docker version --format`: one place for the rows and the recorder. */
const FORMAT = {
  serverVersion: "{{.ServerVersion}}",
  driver: "{{.Driver}}",
  cgroupDriver: "{{.CgroupDriver}}",
  liveRestore: "{{.LiveRestoreEnabled}}",
  loggingDriver: "{{.LoggingDriver}}",
  containerd: '{{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}',
  runc: '{{range .Server.Components}}{{if eq .Name "runc"}}{{.Version}}{{end}}{{end}}',
} as const;

/** The fact table for `expected` (rows with a null expectation are left out). */
export function engineFactRows(expected: ExpectedEngineFacts): FactRow[] {
  const rows: Array<FactRow | null> = [
    expected.serverVersion === null
      ? null
      : { label: "server version", expected: expected.serverVersion, source: "info", format: FORMAT.serverVersion, upstream: true, read: (i) => i["ServerVersion"] },
    expected.containerdVersion === null
      ? null
      : {
          label: "containerd version",
          expected: expected.containerdVersion,
          source: "version",
          format: FORMAT.containerd,
          upstream: true,
          read: (_i, v) => component(v, "containerd"),
        },
    expected.runcVersion === null
      ? null
      : {
          label: "runc version",
          expected: expected.runcVersion,
          source: "version",
          format: FORMAT.runc,
          upstream: true,
          read: (_i, v) => component(v, "runc"),
        },
    { label: "storage driver", expected: expected.storageDriver, source: "info", format: FORMAT.driver, upstream: false, read: (i) => i["Driver"] },
    { label: "cgroup driver", expected: expected.cgroupDriver, source: "info", format: FORMAT.cgroupDriver, upstream: false, read: (i) => i["CgroupDriver"] },
    { label: "live restore", expected: String(expected.liveRestore), source: "info", format: FORMAT.liveRestore, upstream: false, read: (i) => i["LiveRestoreEnabled"] },
    { label: "logging driver", expected: expected.loggingDriver, source: "info", format: FORMAT.loggingDriver, upstream: false, read: (i) => i["LoggingDriver"] },
  ];
  return rows.filter((r): r is FactRow => r !== null);
}

/** The upstream part of a version as the engine reports it (`v1.6.28` → `1.6.28`, `20.10.24+dfsg1` → `20.10.24`). */
export function reportedUpstream(v: string): string {
  return v.replace(/^v/, "").replace(/[+~-].*$/, "");
}

/**
 * Compares the engine's own JSON with the expected facts. Returns one message per mismatch
 * (`storage driver: expected overlay2, got vfs`), empty when the engine is as planned.
 * `infoJson`/`versionJson` are the stdout of the two {@link engineFactsCommands} (text or parsed).
 */
export function verifyEngineFacts(infoJson: string | object, versionJson: string | object, expected: ExpectedEngineFacts): string[] {
  const parse = (what: string, v: string | object): Json | string => {
    if (typeof v !== "string") return v as Json;
    try {
      const j: unknown = JSON.parse(v);
      return j !== null && typeof j === "object" ? (j as Json) : `docker ${what} did not print a JSON object`;
    } catch {
      return `docker ${what} did not print JSON: ${v.trim().slice(0, 200) || "(nothing)"}`;
    }
  };
  const info = parse("info", infoJson);
  const version = parse("version", versionJson);
  const problems = [info, version].filter((x): x is string => typeof x === "string");
  if (problems.length > 0) return problems;
  for (const row of engineFactRows(expected)) {
    const raw = row.read(info as Json, version as Json);
    const actual = raw === undefined || raw === null ? "" : String(raw);
    const got = row.upstream ? reportedUpstream(actual) : actual;
    if (got !== row.expected) problems.push(`${row.label}: expected ${row.expected}, got ${got || "(nothing)"}`);
  }
  return problems;
}

/**
 * The two read-only commands whose stdout {@link verifyEngineFacts} takes. Run them with the
 * transport after `engine.verify` (or instead of it) when a structured report is wanted.
 */
export function engineFactsCommands(): { info: Command; version: Command } {
  return {
    info: { argv: ["docker", "info", "--format", "{{json .}}"], sudo: true },
    version: { argv: ["docker", "version", "--format", "{{json .}}"], sudo: true },
  };
}

/**
 * Every fact the engine is ever checked for, per source, in a fixed order: what the recorder asks
 * the daemon once at its start (record-config.sh `facts`) and what the verify script asks when
 * that record is missing or stale. The order is the record's line order.
 */
export const ENGINE_FACT_FORMATS: Readonly<Record<FactRow["source"], readonly string[]>> = {
  info: [FORMAT.serverVersion, FORMAT.driver, FORMAT.cgroupDriver, FORMAT.liveRestore, FORMAT.loggingDriver],
  version: [FORMAT.containerd, FORMAT.runc],
};

/**
 * The verify script's data: each source's facts as one Go template, a line per fact
 * ({@link ENGINE_FACT_FORMATS}), so the host asks the daemon once per source (each `docker` call
 * is ~35 ms of a re-run), each fact's line number, and the record the recorder wrote at the
 * daemon's start, read instead of asking when it is the running daemon's (same PID). Every row's
 * format is one of the table's (a row outside it is a programming error). Exported for tests.
 */
export function verifyScriptData(
  rows: ReadonlyArray<Pick<FactRow, "label" | "expected" | "source" | "format" | "upstream">>,
  factsRecord: string = HOST_PATHS.runningFacts,
) {
  const facts = rows.map((r) => {
    const line = ENGINE_FACT_FORMATS[r.source].indexOf(r.format) + 1;
    if (line === 0) throw new Error(`engine.verify: ${r.label}'s format is not in ENGINE_FACT_FORMATS.${r.source}`);
    return { label: r.label, expected: r.expected, source: r.source, line, upstream: r.upstream };
  });
  const info = ENGINE_FACT_FORMATS.info.length;
  return {
    facts,
    infoFormat: ENGINE_FACT_FORMATS.info.join("\n"),
    versionFormat: ENGINE_FACT_FORMATS.version.join("\n"),
    // The record: `pid N`, then the info facts, then the version facts, a line each.
    record: { path: factsRecord, infoLast: 1 + info, versionFirst: 2 + info, lines: 1 + info + ENGINE_FACT_FORMATS.version.length },
  };
}

/** `engine.verify`: the read-only host-side comparison; fails naming every mismatching fact. */
export const engineVerifyStep: Step<ProvisionContext> = {
  id: "engine.verify",
  title: "Verify the running engine",
  plan(ctx) {
    const script = renderTemplate("engine/verify.sh", verifyScriptData(engineFactRows(expectedEngineFacts(ctx))));
    const cmd: Command = { argv: ["sh", "-c", script], sudo: true };
    return { check: [cmd], apply: [], verify: [cmd], timeoutMs: 60_000 };
  },
};
