/**
 * `longshore check`: the environment file, resolved. Everything it names is read or verified (secret
 * sources, a bundle directory, by the verb before this module is reached) without printing a
 * secret's value; the report shows the whole environment with defaults filled in, so a user sees
 * exactly what longshore will do. Problems are ConfigErrors (exit 2), all at once.
 */
import { stringify } from "yaml";
import { REDACTED_TEXT } from "../core/sensitive";
import type { LoadedEnvironment } from "../model/environment-file";
import { describeSecretSource } from "../model/secret";
import type { ResolvedSecrets } from "../model/secret-resolve";
import { volumeText } from "../model/deployment";
import type { VerifiedBundle } from "../provisioner/bundle/verify";

/** What `check` reports. */
export interface CheckReport {
  ok: true;
  file: string;
  /** The environment with defaults filled in; every secret as `[redacted]` with its source. */
  environment: Record<string, unknown>;
  /** Each secret: where it comes from and whether it was read (`deferred`: the web Pulumi program reads it). */
  secrets: Array<{ path: string; source: string; status: "read" | "deferred" }>;
  /** What else was checked, one line each. */
  checked: string[];
}

/** Builds the report from what was read and verified before (a bundle directory: `bundle`; other lines: `more`). Pure. */
export function checkReport(loaded: LoadedEnvironment, secrets: ResolvedSecrets, name: string, bundle: VerifiedBundle | null, more: readonly string[] = []): CheckReport {
  const env = loaded.env;
  const checked: string[] = [...more];
  if (bundle !== null) {
    checked.push(`engine.bundle: ${bundle.dir}: ${bundle.manifest.name} ${bundle.manifest.version}, ${bundle.manifest.packages.length} packages, every sha256 verified`);
  }
  const deferred = new Set(secrets.deferred);
  const entries = [
    ...Object.entries(env.app.secrets).map(([k, s]) => ({ path: `app.secrets.${k}`, source: describeSecretSource(s) })),
    ...(env.registry ? [{ path: "registry.password", source: describeSecretSource(env.registry.password) }] : []),
    ...Object.entries(env.accessories).flatMap(([name, a]) =>
      Object.entries(a.secrets).map(([k, s]) => ({ path: `accessories.${name}.secrets.${k}`, source: describeSecretSource(s) })),
    ),
  ];
  const redact = (path: string, source: string) => ({ from: source, value: deferred.has(path) ? "(read by pulumi up)" : REDACTED_TEXT });
  const environment: Record<string, unknown> = {
    ...env,
    app: {
      ...env.app,
      volumes: env.app.volumes.map(volumeText),
      secrets: Object.fromEntries(Object.entries(env.app.secrets).map(([k, s]) => [k, redact(`app.secrets.${k}`, describeSecretSource(s))])),
    },
    ...(env.registry ? { registry: { ...env.registry, password: redact("registry.password", describeSecretSource(env.registry.password)) } } : {}),
    accessories: Object.fromEntries(
      Object.entries(env.accessories).map(([name, a]) => [
        name,
        {
          ...a,
          volumes: a.volumes.map(volumeText),
          secrets: Object.fromEntries(Object.entries(a.secrets).map(([k, s]) => [k, redact(`accessories.${name}.secrets.${k}`, describeSecretSource(s))])),
        },
      ]),
    ),
    local: { listen: `${env.local.listen.address}:${env.local.listen.port}` },
  };
  return {
    ok: true,
    file: name,
    environment,
    secrets: entries.map((e) => ({ ...e, status: deferred.has(e.path) ? "deferred" : "read" })),
    checked,
  };
}

/** The human view: a summary line, what was read and checked, then the resolved file. */
export function checkText(r: CheckReport): string {
  const lines = [`${r.file}: ok`];
  for (const s of r.secrets) lines.push(`  ${s.path}: ${s.status === "read" ? "read from" : "left to pulumi up:"} ${s.source}`);
  for (const c of r.checked) lines.push(`  ${c}`);
  lines.push("", "# resolved, defaults filled in, secrets redacted:", stringify(r.environment).trimEnd());
  return `${lines.join("\n")}\n`;
}
