/**
 * Files and directories that the user's configuration names (an image archive, a bundle directory,
 * a private key) are input like the configuration itself: each is checked before anything is
 * touched, and a problem is said in words (`does not exist`, `is a directory`, `is empty`) for the
 * issue of the key or flag that named it, never as a raw ENOENT or EISDIR.
 */
import { constants, promises as fs } from "node:fs";

/** What a system error means for a path the user gave: `does not exist`, `is a directory`... */
export function fsErrorProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "does not exist";
    case "ENOTDIR":
      return "does not exist (a parent is not a directory)";
    case "EISDIR":
      return "is a directory";
    case "EACCES":
    case "EPERM":
      return "cannot be read (permission denied)";
    case "ELOOP":
      return "is a loop of symbolic links";
    default:
      return `cannot be read (${code ?? (err instanceof Error ? err.message : String(err))})`;
  }
}

/**
 * Null when `p` is what the configuration needs (a readable, non-empty regular file, or a readable,
 * non-empty directory), else the problem in words. Symbolic links are followed.
 */
export async function inputPathProblem(p: string, kind: "file" | "directory"): Promise<string | null> {
  let st;
  try {
    st = await fs.stat(p);
  } catch (e) {
    return fsErrorProblem(e);
  }
  try {
    if (kind === "file") {
      if (st.isDirectory()) return "is a directory";
      // A FIFO or a device could be read once at most; archives are read twice (ID, then upload).
      if (!st.isFile()) return "is not a regular file";
      await fs.access(p, constants.R_OK);
      if (st.size === 0) return "is empty";
    } else {
      if (!st.isDirectory()) return "is not a directory";
      if ((await fs.readdir(p)).length === 0) return "is empty";
    }
  } catch (e) {
    return fsErrorProblem(e);
  }
  return null;
}
