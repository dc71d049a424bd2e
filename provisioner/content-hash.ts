/** sha256 of what a {@link RemoteFile} holds, computed locally so the runner can compare it with the host's. */
import { createHash } from "node:crypto";
import { Sensitive } from "../core/sensitive";
import type { RemoteFile } from "./step";

/** Hex sha256 of bytes or UTF-8 text. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The bytes a file's in-memory content stands for (a secret is revealed only into the hash). */
function contentBytes(content: string | Uint8Array | Sensitive): string | Uint8Array {
  return content instanceof Sensitive ? content.reveal() : content;
}

/** The sha256 the host's copy must have: hashed from memory, or the one given with a local file. */
export function fileSha256(file: RemoteFile): string {
  return "content" in file.source ? sha256Hex(contentBytes(file.source.content)) : file.source.sha256;
}

/** Size in bytes of in-memory content; undefined for a streamed local file (the transport reports it). */
export function contentSize(file: RemoteFile): number | undefined {
  if (!("content" in file.source)) return undefined;
  const c = contentBytes(file.source.content);
  return typeof c === "string" ? Buffer.byteLength(c, "utf8") : c.byteLength;
}
