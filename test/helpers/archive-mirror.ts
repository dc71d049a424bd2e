/**
 * A Debian archive mirror the controller serves itself, for hosts with no route out: plain HTTP on
 * one address (the local bridge's), `<prefix>/<archivePath>` answering with the cached bundle's .deb
 * (one byte changed for the paths in `tampered`), 404 for anything else, and a log of every request.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { DEBS_DIR } from "../../provisioner/bundle/manifest";
import type { BundleRef } from "../../provisioner/steps/engine-context";

/** One request the mirror answered: who asked for which (decoded) path, and the status. */
export interface Served {
  from: string;
  path: string;
  status: number;
}

/** A running mirror: its archive root URL, its request log, and how to stop it. */
export interface ArchiveMirror {
  url: string;
  log: Served[];
  stop: () => Promise<void>;
}

/** Starts the mirror on `address` (a free port), serving `ref`'s packages under `/debian`. */
export async function startArchiveMirror(address: string, ref: BundleRef, tampered: ReadonlySet<string> = new Set()): Promise<ArchiveMirror> {
  const byPath = new Map(ref.manifest.packages.filter((p) => p.archivePath).map((p) => [`/debian/${p.archivePath}`, path.join(ref.dir, DEBS_DIR, p.filename)]));
  const log: Served[] = [];
  const server = http.createServer((req, res) => {
    let p: string;
    try {
      p = decodeURIComponent((req.url ?? "").split("?")[0]!);
    } catch {
      p = req.url ?? "";
    }
    const file = byPath.get(p);
    const from = req.socket.remoteAddress ?? "";
    if (req.method !== "GET" || !file) {
      log.push({ from, path: p, status: 404 });
      res.writeHead(404).end();
      return;
    }
    log.push({ from, path: p, status: 200 });
    const body = fs.readFileSync(file);
    if (tampered.has(p)) body[body.length >> 1] = body[body.length >> 1]! ^ 0x01;
    res.writeHead(200, { "content-type": "application/vnd.debian.binary-package", "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, address, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${address}:${port}/debian`,
    log,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
