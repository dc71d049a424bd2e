/**
 * Putting an image's blobs into one host's blob store (`/var/lib/longshore/blobs/sha256/<hex>`),
 * over that host's one connection: a probe (is the image in the engine already, which blobs does
 * the store hold, is there a `busybox` for the peer server), then each missing blob from a peer
 * (an HTTP GET with bash's `/dev/tcp` from the peer's transient `busybox httpd`, on the hosts'
 * private network) or from
 * the controller (gzip -1 on the wire, `gzip -dc` on the host). Every blob is checked against its
 * sha256 before it is renamed into the store: a damaged blob is refused, and a peer that gave one
 * is not asked again. The host then serves its store to its peers until every host of the
 * delivery is done ({@link BlobExchange}).
 */
import { createReadStream } from "node:fs";
import { pipeline, type Readable } from "node:stream";
import { createGzip } from "node:zlib";
import { CommandFailedError } from "../../core/errors";
import { PEER_BLOB_PORT } from "../../model/image-from";
import type { Command } from "../command";
import { HOST_PATHS } from "../steps/engine-context";
import type { ExecResult, Transport } from "../transport/transport";
import { mapWithConcurrency } from "../concurrency";
import { cachedBlobPath } from "./blob-cache";
import type { BlobExchange } from "./blob-exchange";
import { blobsOf, hexOf, imagesOf, type LayeredImage } from "./layered-image";

/** The id this phase reports under (between the engine steps and `image.layers`). */
export const FETCH_STEP_ID = "image.fetch";

/** Exit code of the receive scripts when the bytes do not hash to the blob's name. */
export const DIGEST_MISMATCH_EXIT = 65;

/**
 * An HTTP/1.0 GET of `/sha256/$3` from `$1:$2` with bash's `/dev/tcp` (bash is on every Debian host;
 * Debian 12's `busybox wget` crashes there): the status line must say 200, the headers are read up to
 * the blank line, and the body goes to stdout.
 */
export const PEER_GET_SCRIPT = [
  "set -eu",
  'exec 3<>"/dev/tcp/$1/$2"',
  'printf "GET /sha256/%s HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" "$3" "$1" >&3',
  'IFS= read -r status <&3',
  'case "$status" in "HTTP/1."?" 200"*) ;; *) echo "peer answered: ${status%$\'\\r\'}" >&2; exit 1 ;; esac',
  "while IFS= read -r line <&3; do line=${line%$'\\r'}; [ -z \"$line\" ] && break; done",
  "cat <&3",
].join("\n");

/**
 * Receives one blob into the store `$1` as `$2` (hex), checking its sha256 before the rename: from
 * stdin (gzip, sent by the controller) when `$3` is empty, else from the peer `$3` port `$4` with
 * {@link PEER_GET_SCRIPT} (`$5`).
 */
export const RECEIVE_BLOB_SCRIPT = [
  "set -u",
  'store=$1; hex=$2; peer=$3; port=$4; get=$5; tmp="$store/.in-$hex.$$"',
  "trap 'rm -f \"$tmp\"' EXIT",
  'mkdir -p "$store/sha256" || exit 1',
  'if [ -z "$peer" ]; then gzip -dc > "$tmp" || exit 1; else timeout 600 bash -c "$get" bash "$peer" "$port" "$hex" > "$tmp" || exit 1; fi',
  'got=$(sha256sum "$tmp" | cut -d" " -f1)',
  `if [ "$got" != "$hex" ]; then echo "sha256:$got" >&2; exit ${DIGEST_MISMATCH_EXIT}; fi`,
  'mv -f "$tmp" "$store/sha256/$hex"',
].join("\n");

/** What the host has: `present` (the image is in the engine), `busybox`, then `blob <hex>` per stored blob. */
export const PROBE_STORE_SCRIPT = [
  'store=$1; ids=$2',
  // present: the engine has every image of the delivery (ids space-separated).
  'all=1; for id in $ids; do docker image inspect --format "{{.Id}}" "$id" >/dev/null 2>&1 || all=0; done; [ "$all" = 1 ] && echo present',
  "command -v busybox >/dev/null 2>&1 && echo busybox",
  'for f in "$store"/sha256/*; do [ -f "$f" ] && echo "blob ${f##*/}"; done',
  "exit 0",
].join("\n");

/**
 * Starts the transient peer server: `busybox httpd` in the foreground as a systemd unit (gone when
 * stopped, and after an hour at most even if the controller never comes back), serving the store
 * read-only on `$2:$3` to the addresses in the allow list on stdin, then waits until it answers
 * (`$5`: {@link PEER_GET_SCRIPT}).
 */
export const SERVE_STORE_SCRIPT = [
  "set -eu",
  'store=$1; addr=$2; port=$3; unit=$4; get=$5; conf="/run/$unit.conf"',
  'mkdir -p "$store/sha256"',
  'cat > "$conf"',
  'systemctl stop "$unit" >/dev/null 2>&1 || true',
  'systemctl reset-failed "$unit" >/dev/null 2>&1 || true',
  'echo ok > "$store/sha256/ready"',
  'systemd-run --quiet --collect --unit "$unit" -p RuntimeMaxSec=3600 busybox httpd -f -p "$addr:$port" -h "$store" -c "$conf"',
  'i=0; until timeout 2 bash -c "$get" bash "$addr" "$port" ready >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 50 ] || { echo "the blob server does not answer on $addr:$port" >&2; exit 1; }; sleep 0.1; done',
].join("\n");

/** Blobs one host fetches at once. */
export const BLOBS_IN_FLIGHT = 4;

/** The systemd unit of the peer server. */
export const BLOB_SERVER_UNIT = "longshore-blobs";

/** The allow list of `busybox httpd -c`: these addresses, and nobody else. */
export function httpdAllowList(addresses: readonly string[]): string {
  return [...addresses.map((a) => `A:${a}`), "D:*", ""].join("\n");
}

/** How one host got the image's blobs. */
export interface BlobDeliveryReport {
  /** The engine had the image already: nothing was fetched. */
  present: boolean;
  /** Blobs of the image (distinct). */
  blobs: number;
  /** Blobs the store held already. */
  had: number;
  /** Blobs fetched from a peer, and their bytes. */
  fromPeers: number;
  peerBytes: number;
  /** Blobs sent by the controller: their bytes, and the (compressed) bytes that crossed the link. */
  fromController: number;
  controllerBytes: number;
  wireBytes: number;
  /** Blobs refused because they did not match their digest (then fetched again elsewhere). */
  refused: number;
  /** Whether this host served its store to its peers. */
  served: boolean;
}

/** What {@link deliverBlobs} needs. */
export interface BlobDeliveryOptions {
  transport: Transport;
  image: LayeredImage;
  /** The controller's cache directory (its blob cache). */
  cacheDir: string;
  exchange: BlobExchange;
  /** This host's private address, where its peers reach its server; null: it serves nothing. */
  address: string | null;
  /** Every address allowed to fetch from this host's server (the delivery's hosts). */
  peers: readonly string[];
  /** @default PEER_BLOB_PORT */
  port?: number;
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
  /**
   * Takes the stop of this host's server instead of waiting for every peer before returning, so the
   * host goes on (loading the image) while it serves; the caller must call it before closing the
   * connection. @default deliverBlobs waits and stops the server itself
   */
  keepServing?: (release: () => Promise<void>) => void;
}

const STORE = HOST_PATHS.blobStore;

function sh(script: string, args: string[], extra: Partial<Command> = {}): Command {
  return { argv: ["sh", "-c", script, "sh", ...args], sudo: true, ...extra };
}

/** A fresh gzip -1 stream of a cached blob (the transport calls it once per attempt). */
function blobStream(file: string): () => Readable {
  return () => {
    const gz = createGzip({ level: 1 });
    pipeline(createReadStream(file), gz, () => {});
    return gz;
  };
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * Fills the host's blob store with `image`'s blobs, then stays a server for its peers until the
 * whole delivery is done. Always tells the exchange this host is done, also when it fails.
 */
export async function deliverBlobs(o: BlobDeliveryOptions): Promise<BlobDeliveryReport> {
  const t = o.transport;
  const host = t.host;
  const port = o.port ?? PEER_BLOB_PORT;
  const exec = (c: Command, timeoutMs = 10 * 60_000): Promise<ExecResult> => t.exec(c, { timeoutMs, ...(o.signal ? { signal: o.signal } : {}) });
  const report: BlobDeliveryReport = { present: false, blobs: 0, had: 0, fromPeers: 0, peerBytes: 0, fromController: 0, controllerBytes: 0, wireBytes: 0, refused: 0, served: false };
  const blobs = blobsOf(o.image);
  report.blobs = blobs.length;
  try {
    const probe = await exec(sh(PROBE_STORE_SCRIPT, [STORE, imagesOf(o.image).map((i) => i.imageId).join(" ")]), 60_000);
    if (probe.exitCode !== 0) throw failed(host, "probe the blob store", probe);
    const lines = probe.stdout.split("\n");
    report.present = lines.includes("present");
    const had = new Set(lines.filter((l) => l.startsWith("blob ")).map((l) => `sha256:${l.slice(5)}`));
    report.had = blobs.filter((b) => had.has(b.digest)).length;
    const needs = !report.present && report.had < blobs.length;
    o.exchange.probed(host, needs);
    // A host that needs blobs serves at once (it will hold them); one that needs none serves only
    // when another host of the delivery does (decided once every host has probed).
    const serve = o.exchange.shared && o.address !== null && lines.includes("busybox") && (needs || (await o.exchange.anyoneNeeds()));
    if (serve && o.address !== null) {
      const r = await exec(sh(SERVE_STORE_SCRIPT, [STORE, o.address, String(port), BLOB_SERVER_UNIT, PEER_GET_SCRIPT], { stdin: httpdAllowList(o.peers) }), 60_000);
      if (r.exitCode === 0) {
        report.served = true;
        o.exchange.serving(host, o.address);
        o.exchange.holds(host, had);
      } else {
        o.onProgress?.(`blob server not started (${(r.stderr.trim() || `exit ${r.exitCode}`).split("\n").pop()}): blobs come from the controller`);
      }
    }
    if (!report.present) {
      // A few blobs at once over the one connection (its channels): a host waiting for a peer's
      // copy of one blob still fetches the others.
      const missing = blobs.filter((b) => !had.has(b.digest));
      const results = await mapWithConcurrency(missing, BLOBS_IN_FLIGHT, (blob) => fetchBlob(o, blob, report, exec).then(() => null, (e: unknown) => e));
      const failure = results.find((r) => r !== null);
      if (failure !== undefined) throw failure;
    }
    o.onProgress?.(
      report.present
        ? "image present: 0 blob bytes"
        : `${report.had} blobs present, ${report.fromPeers} from peers (${mib(report.peerBytes)}), ${report.fromController} from the controller (${mib(report.controllerBytes)}, ${mib(report.wireBytes)} sent)`,
    );
    return report;
  } finally {
    o.exchange.done(host);
    if (report.served) {
      // The server outlives this host's fetching: its peers may still want its blobs.
      const release = async () => {
        await o.exchange.allDone();
        await exec({ argv: ["systemctl", "stop", BLOB_SERVER_UNIT], sudo: true }, 60_000).catch(() => undefined);
      };
      if (o.keepServing) o.keepServing(release);
      else await release();
    }
  }
}

async function fetchBlob(o: BlobDeliveryOptions, blob: { digest: string; size: number }, report: BlobDeliveryReport, exec: (c: Command, timeoutMs?: number) => Promise<ExecResult>): Promise<void> {
  const host = o.transport.host;
  const hex = hexOf(blob.digest);
  const port = o.port ?? PEER_BLOB_PORT;
  for (;;) {
    const source = await o.exchange.sourceFor(host, blob.digest);
    if (source.from === "peer") {
      o.exchange.peerLoad(source.peer, 1);
      let r: ExecResult;
      try {
        r = await exec(sh(RECEIVE_BLOB_SCRIPT, [STORE, hex, source.address, String(port), PEER_GET_SCRIPT]));
      } finally {
        o.exchange.peerLoad(source.peer, -1);
      }
      if (r.exitCode === 0) {
        report.fromPeers++;
        report.peerBytes += blob.size;
        // Now this host holds it too: spread the next peers' fetches.
        o.exchange.holds(host, [blob.digest]);
        return;
      }
      if (r.exitCode === DIGEST_MISMATCH_EXIT) report.refused++;
      o.onProgress?.(`blob ${blob.digest.slice(0, 19)} from ${source.peer}: ${r.exitCode === DIGEST_MISMATCH_EXIT ? `refused, its sha256 is ${r.stderr.trim()}` : "fetch failed"}; trying elsewhere`);
      o.exchange.peerFailed(source.peer, blob.digest);
      continue;
    }
    let ok = false;
    try {
      const r = await exec(sh(RECEIVE_BLOB_SCRIPT, [STORE, hex, "", "", ""], { stdin: blobStream(cachedBlobPath(o.cacheDir, blob.digest)) }));
      if (r.exitCode === DIGEST_MISMATCH_EXIT) {
        report.refused++;
        throw new CommandFailedError(
          { host, stepId: FETCH_STEP_ID, phase: "verify", command: `receive blob ${blob.digest} from the controller`, exitCode: r.exitCode, signal: null, stderrTail: `refused: the bytes hash to ${r.stderr.trim()}` },
          {
          suggestion: "The controller's blob cache is damaged: remove that blob from the cache (blobs/sha256 under the cache directory) and run again.",
          },
        );
      }
      if (r.exitCode !== 0) throw failed(host, `receive blob ${blob.digest}`, r);
      ok = true;
      report.fromController++;
      report.controllerBytes += blob.size;
      report.wireBytes += r.stdinBytes ?? 0;
      return;
    } finally {
      source.settle(ok);
    }
  }
}

function failed(host: string, what: string, r: ExecResult): CommandFailedError {
  const stderrTail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-3).join("\n");
  return new CommandFailedError({ host, stepId: FETCH_STEP_ID, phase: "apply", command: what, exitCode: r.exitCode, signal: r.signal, stderrTail });
}

/** A host lending its blob store to a delivery it is not part of; stop it when the delivery is done. */
export interface LentStore {
  host: string;
  /** Blobs of the image it holds. */
  holds: number;
  stop(): Promise<void>;
}

/**
 * Lends `transport`'s host's blob store to the delivery (e.g. the live slot's hosts, which hold the
 * layers an update keeps): its server starts, allowing `peers`, and the exchange learns what it
 * holds. Nothing else on the host changes. Resolves with null when the host cannot serve.
 */
export async function lendStore(o: {
  transport: Transport;
  image: LayeredImage;
  exchange: BlobExchange;
  address: string;
  peers: readonly string[];
  port?: number;
  onProgress?: (message: string) => void;
}): Promise<LentStore | null> {
  const t = o.transport;
  const port = o.port ?? PEER_BLOB_PORT;
  const probe = await t.exec(sh(PROBE_STORE_SCRIPT, [STORE, imagesOf(o.image).map((i) => i.imageId).join(" ")]), { timeoutMs: 60_000 });
  const lines = probe.exitCode === 0 ? probe.stdout.split("\n") : [];
  if (!lines.includes("busybox")) return null;
  const had = new Set(lines.filter((l) => l.startsWith("blob ")).map((l) => `sha256:${l.slice(5)}`));
  const wanted = blobsOf(o.image).filter((b) => had.has(b.digest));
  if (wanted.length === 0) return null;
  const r = await t.exec(sh(SERVE_STORE_SCRIPT, [STORE, o.address, String(port), BLOB_SERVER_UNIT, PEER_GET_SCRIPT], { stdin: httpdAllowList([...o.peers, o.address]) }), { timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    o.onProgress?.(`${t.host}: cannot lend its blobs (${(r.stderr.trim() || `exit ${r.exitCode}`).split("\n").pop()})`);
    return null;
  }
  o.exchange.serving(t.host, o.address);
  o.exchange.holds(t.host, wanted.map((b) => b.digest));
  o.onProgress?.(`${t.host}: lends ${wanted.length} of the image's ${blobsOf(o.image).length} blobs to the new hosts`);
  return {
    host: t.host,
    holds: wanted.length,
    stop: async () => {
      await t.exec({ argv: ["systemctl", "stop", BLOB_SERVER_UNIT], sudo: true }, { timeoutMs: 60_000 }).catch(() => undefined);
    },
  };
}
