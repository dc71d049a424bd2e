/**
 * The `engine` image source: an image as it is in the operator's own container engine, read
 * through the engine's API on its unix socket (`GET /images/{name}/json`, then `GET
 * /images/{name}/get`, which is `docker save`), into the controller's blob cache. No docker CLI
 * is needed, and an image the cache already holds (same image ID) is not exported again.
 */
import * as http from "node:http";
import { PreconditionError } from "../../core/errors";
import { cachedImage, importArchiveStream } from "./blob-cache";
import type { LayeredImage } from "./layered-image";

/** The engine's socket when `DOCKER_HOST` says nothing. */
export const DEFAULT_ENGINE_SOCKET = "/var/run/docker.sock";

/** The engine answers, but has no such image: the reference the user gave is wrong (input). */
export class NoSuchEngineImageError extends PreconditionError {}

/**
 * The socket path a `DOCKER_HOST` value names (`unix:///run/docker.sock`), the default when it is
 * unset, or a refusal for a TCP engine (its TLS setup is not supported here). Pure.
 */
export function engineSocketOf(dockerHost: string | undefined): string {
  if (dockerHost === undefined || dockerHost === "") return DEFAULT_ENGINE_SOCKET;
  if (dockerHost.startsWith("unix://")) return dockerHost.slice("unix://".length);
  throw new PreconditionError(`DOCKER_HOST=${dockerHost}: longshore reads images only from an engine on a unix socket`, {
    suggestion: "Unset DOCKER_HOST or point it at unix:///path/to/docker.sock, or save the image (`docker save -o app.tar IMAGE`) and use --from app.tar.",
  });
}

function get(socketPath: string, urlPath: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: urlPath, headers: { host: "docker" } }, resolve);
    req.on("error", reject);
  });
}

async function text(res: http.IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of res) parts.push(c as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

/** Asks the engine at `socketPath` for `ref`; a clear error when there is no engine or no such image. */
async function engineGet(socketPath: string, urlPath: string, ref: string): Promise<http.IncomingMessage> {
  let res: http.IncomingMessage;
  try {
    res = await get(socketPath, urlPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PreconditionError(`no container engine answers at ${socketPath} (${code ?? (e as Error).message}), so the image ${ref} cannot be read from it`, {
      cause: e,
      suggestion: "Start the engine (or set DOCKER_HOST to its socket), or use --from FILE with a `docker save` archive.",
    });
  }
  if (res.statusCode === 404) {
    res.resume();
    throw new NoSuchEngineImageError(`the engine at ${socketPath} has no image ${ref}`, {
      suggestion: `Build or tag it there first (\`docker image ls ${ref}\` shows what it has).`,
    });
  }
  if (res.statusCode !== 200) {
    const body = (await text(res)).trim().slice(0, 300);
    throw new PreconditionError(`the engine at ${socketPath} answered ${res.statusCode} for the image ${ref}: ${body}`);
  }
  return res;
}

/** The image `ref` of the engine at `socketPath`, in the blob cache (exported only when not cached yet). */
export async function cacheEngineImage(cacheDir: string, socketPath: string, ref: string): Promise<LayeredImage> {
  const name = encodeURIComponent(ref);
  const inspect = JSON.parse(await text(await engineGet(socketPath, `/images/${name}/json`, ref))) as { Id?: string; RepoTags?: string[] | null };
  if (typeof inspect.Id !== "string") throw new PreconditionError(`the engine at ${socketPath} gave no image ID for ${ref}`);
  const hit = await cachedImage(cacheDir, inspect.Id);
  if (hit) return { ...hit, repoTags: [ref] };
  const saved = await engineGet(socketPath, `/images/get?names=${name}`, ref);
  const image = await importArchiveStream(cacheDir, saved, `engine image ${ref}`);
  if (image.imageId !== inspect.Id) {
    throw new PreconditionError(`the engine's image ${ref} changed while it was read (${inspect.Id}, then ${image.imageId}): run again`);
  }
  return image;
}
