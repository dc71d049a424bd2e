// Does not prove anything about a real mirror under attack (the server is ours, on 127.0.0.1, serving copies of Debian's signed files with one byte changed); it proves the native resolver refuses what does not match the signature.
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BundleError, PreconditionError } from "../../core/errors";
import { loadArchiveIndexes, suiteCacheDir } from "../../provisioner/bundle/archive-index";
import { downloadVerified } from "../../provisioner/bundle/build";
import { HOST_DEBIAN_SOURCES, parseDeb822Sources } from "../../provisioner/bundle/recipe";

const CACHE = process.env["LONGSHORE_CACHE_DIR"] ?? path.resolve(__dirname, "..", "..", ".longshore", "cache");
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
const mirror = parseDeb822Sources(readFileSync(HOST_DEBIAN_SOURCES, "utf8")).find((s) => s.suites.includes("bookworm"))!.uris[0]!;
const tmp = mkdtempSync(path.join(tmpdir(), "longshore-tamper-it-"));
const root = path.join(tmp, "www");
let server: Server;
let base = "";

/** Serves files under `root` (GET only). */
function serve(): Promise<Server> {
  const s = createServer((req, res) => {
    const file = path.join(root, decodeURIComponent((req.url ?? "/").split("?")[0]!));
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(readFileSync(file));
  });
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve(s)));
}

const source = (site: string) => ({ sources: [{ uri: `${base}/${site}`, suite: "bookworm", components: ["main"], signedBy: KEYRING }], arch: "amd64" as const });
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  // Debian's signed bookworm InRelease and main amd64 Packages.gz, from the cache (fetched from the mirror if absent).
  await loadArchiveIndexes({ sources: [{ uri: mirror, suite: "bookworm", components: ["main"], signedBy: KEYRING }], arch: "amd64" }, { cacheDir: CACHE, refresh: false, checkValidUntil: false });
  const cached = suiteCacheDir(CACHE, mirror, "bookworm");
  for (const site of ["good", "bad-index", "bad-signature"]) {
    const dists = path.join(root, site, "dists", "bookworm");
    mkdirSync(path.join(dists, "main", "binary-amd64"), { recursive: true });
    cpSync(path.join(cached, "InRelease"), path.join(dists, "InRelease"));
    cpSync(path.join(cached, "main", "binary-amd64", "Packages.gz"), path.join(dists, "main", "binary-amd64", "Packages.gz"));
  }
  const gz = path.join(root, "bad-index", "dists", "bookworm", "main", "binary-amd64", "Packages.gz");
  const bytes = readFileSync(gz);
  bytes[1000] = bytes[1000]! ^ 0x01;
  writeFileSync(gz, bytes);
  const ir = path.join(root, "bad-signature", "dists", "bookworm", "InRelease");
  writeFileSync(ir, readFileSync(ir, "utf8").replace("Label: Debian", "Label: Debiam"));
  server = await serve();
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 300_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

describe("the native resolver refuses what its signature does not cover (served from 127.0.0.1)", () => {
  it("the untampered copy is accepted (the server and the files are right)", async () => {
    const [ix] = await loadArchiveIndexes(source("good"), { cacheDir: path.join(tmp, "c1"), checkValidUntil: false });
    expect(ix!.packages.some((p) => p.name === "docker.io")).toBe(true);
  }, 120_000);

  it("a Packages.gz with one byte changed: BundleError naming the file, the expected and the actual sha256; nothing cached", async () => {
    const gz = readFileSync(path.join(root, "bad-index", "dists", "bookworm", "main", "binary-amd64", "Packages.gz"));
    const good = readFileSync(path.join(root, "good", "dists", "bookworm", "main", "binary-amd64", "Packages.gz"));
    const cacheDir = path.join(tmp, "c2");
    const e = await loadArchiveIndexes(source("bad-index"), { cacheDir, checkValidUntil: false }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BundleError);
    expect((e as Error).message).toBe(
      `bundle ${base}/bad-index/dists/bookworm/main/binary-amd64/Packages.gz is invalid (1 problem):\n` +
        `  main/binary-amd64/Packages.gz: does not match the signed InRelease: expected sha256 ${sha(good)} (${good.length} bytes), actual ${sha(gz)} (${gz.length} bytes)`,
    );
    expect(existsSync(path.join(suiteCacheDir(cacheDir, `${base}/bad-index`, "bookworm"), "main", "binary-amd64", "Packages.gz"))).toBe(false);
  });

  it("an InRelease with one word changed: not signed by a key of the keyring", async () => {
    const e = await loadArchiveIndexes(source("bad-signature"), { cacheDir: path.join(tmp, "c3"), checkValidUntil: false }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PreconditionError);
    expect((e as Error).message).toBe(`InRelease of ${base}/bad-signature bookworm is not signed by a key in ${KEYRING}`);
  });

  it("a .deb whose bytes are not the index's: refused and deleted", async () => {
    const served = Buffer.from("not the package");
    writeFileSync(path.join(root, "fake.deb"), served);
    const file = path.join(tmp, "fake.deb");
    const e = await downloadVerified(`${base}/fake.deb`, file, 123, "a".repeat(64)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BundleError);
    expect((e as Error).message).toBe(
      `bundle ${base}/fake.deb is invalid (1 problem):\n  fake.deb: does not match the signed index: expected sha256 ${"a".repeat(64)} (123 bytes), actual ${sha(served)} (${served.length} bytes)`,
    );
    expect(existsSync(file)).toBe(false);
    await downloadVerified(`${base}/fake.deb`, file, served.length, sha(served));
    expect(readFileSync(file).equals(served)).toBe(true);
  });
});
