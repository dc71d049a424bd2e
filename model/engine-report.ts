/**
 * What a host's container engine reports about itself: the fields of `docker info --format
 * '{{json .}}'` that `longshore status` shows, and the rows of `docker system df --format
 * '{{json .}}'` (Images, Containers, Local Volumes, Build Cache). The engine's JSON is a contract
 * with another program, so it is parsed here once, with zod, and every problem names the field.
 * Sizes keep the engine's own text (`1.984MB`, `75MB (50%)`) beside the bytes parsed from it: the
 * engine prints decimal units with four significant digits, so the bytes are that precise. Pure.
 */
import { z } from "zod";

/** The engine as `docker info` describes it. */
export interface EngineInfo {
  /** `ServerVersion`: the engine's version (`26.1.5+dfsg1`). */
  serverVersion: string;
  /** `Driver`: the storage driver (`overlay2`). */
  storageDriver: string;
  /** `CgroupDriver`: `systemd` or `cgroupfs`. */
  cgroupDriver: string;
  /** `CgroupVersion`: `1` or `2`. @default none: an engine too old to say */
  cgroupVersion?: string;
  /** `Containers`: every container, whatever its state. */
  containers: number;
  /** `ContainersRunning`. */
  containersRunning: number;
  /** `Images`. */
  images: number;
}

/** One row of `docker system df`. */
export interface EngineDiskUsage {
  /** The engine's `Type`: `Images`, `Containers`, `Local Volumes`, `Build Cache`. */
  type: string;
  /** `TotalCount`. */
  totalCount: number;
  /** `Active`: how many are in use (by a container, for images and volumes; running, for containers). */
  active: number;
  /** `Size` as the engine prints it (`1.984MB`). */
  size: string;
  /** {@link size} in bytes. */
  sizeBytes: number;
  /** `Reclaimable` as the engine prints it (`1.984MB (99%)`). */
  reclaimable: string;
  /** The size part of {@link reclaimable}, in bytes. */
  reclaimableBytes: number;
}

/** A parse result: the value, or what is wrong with the text. */
export type ReportParse<T> = { ok: true; value: T } | { ok: false; message: string };

/** The engine's decimal units (Go's `units.HumanSize`), and `KB` as some versions print kilobytes. */
const UNITS: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, PB: 1e15, EB: 1e18 };

/**
 * Bytes from a size the engine printed: `0B`, `3B`, `2.052kB`, `1.984MB`, `75MB (50%)` (a
 * percentage after the size is ignored). Null when the text is not such a size.
 */
export function parseEngineSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*([kKMGTPE]?B)\s*(?:\(\d+(?:\.\d+)?%\))?\s*$/.exec(text);
  if (!m) return null;
  const unit = UNITS[m[2]!];
  return unit === undefined ? null : Math.round(Number(m[1]) * unit);
}

const count = z.number().int().nonnegative();

/** The fields of `docker info`'s JSON that longshore reads; everything else is left as it is. */
const dockerInfoSchema = z.looseObject({
  ServerVersion: z.string().min(1),
  Driver: z.string(),
  CgroupDriver: z.string(),
  CgroupVersion: z.string().optional(),
  Containers: count,
  ContainersRunning: count,
  Images: count,
});

/** `docker info` when the client could not ask the engine: it prints its errors instead. */
const serverErrorsSchema = z.looseObject({ ServerErrors: z.array(z.string()).min(1) });

/** Counts are strings in `docker system df`'s JSON (`"2"`). */
const countText = z.string().regex(/^\d+$/, "must be a whole number");

const systemDfRowSchema = z.looseObject({
  Type: z.string().min(1),
  TotalCount: countText,
  Active: countText,
  Size: z.string(),
  Reclaimable: z.string(),
});

function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(top)"}: ${i.message}`).join("; ");
}

function parseJson(text: string, what: string): ReportParse<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, message: `${what} is not JSON (${(e as Error).message}): ${JSON.stringify(text.slice(0, 120))}` };
  }
}

/** Reads what `docker info --format '{{json .}}'` printed (one JSON object). */
export function parseDockerInfo(text: string): ReportParse<EngineInfo> {
  const json = parseJson(text.trim(), "docker info's output");
  if (!json.ok) return json;
  const errors = serverErrorsSchema.safeParse(json.value);
  if (errors.success) return { ok: false, message: `docker info: ${errors.data.ServerErrors.join("; ")}` };
  const r = dockerInfoSchema.safeParse(json.value);
  if (!r.success) return { ok: false, message: `docker info: ${issuesText(r.error)}` };
  const d = r.data;
  return {
    ok: true,
    value: {
      serverVersion: d.ServerVersion,
      storageDriver: d.Driver,
      cgroupDriver: d.CgroupDriver,
      ...(d.CgroupVersion ? { cgroupVersion: d.CgroupVersion } : {}),
      containers: d.Containers,
      containersRunning: d.ContainersRunning,
      images: d.Images,
    },
  };
}

/** Reads what `docker system df --format '{{json .}}'` printed (one JSON object per line). */
export function parseSystemDf(text: string): ReportParse<EngineDiskUsage[]> {
  const rows: EngineDiskUsage[] = [];
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  for (const [i, line] of lines.entries()) {
    const json = parseJson(line, `docker system df's line ${i + 1}`);
    if (!json.ok) return json;
    const r = systemDfRowSchema.safeParse(json.value);
    if (!r.success) return { ok: false, message: `docker system df, line ${i + 1}: ${issuesText(r.error)}` };
    const { Type, TotalCount, Active, Size, Reclaimable } = r.data;
    const sizeBytes = parseEngineSize(Size);
    const reclaimableBytes = parseEngineSize(Reclaimable);
    if (sizeBytes === null) return { ok: false, message: `docker system df, line ${i + 1}: Size: not a size: ${JSON.stringify(Size)}` };
    if (reclaimableBytes === null) return { ok: false, message: `docker system df, line ${i + 1}: Reclaimable: not a size: ${JSON.stringify(Reclaimable)}` };
    rows.push({ type: Type, totalCount: Number(TotalCount), active: Number(Active), size: Size, sizeBytes, reclaimable: Reclaimable, reclaimableBytes });
  }
  if (rows.length === 0) return { ok: false, message: "docker system df printed nothing" };
  return { ok: true, value: rows };
}

/** The bytes of one `docker system df` type (`Images`...), 0 when the engine printed no such row. */
export function diskBytesOf(rows: readonly EngineDiskUsage[], type: string): number {
  return rows.find((r) => r.type === type)?.sizeBytes ?? 0;
}
