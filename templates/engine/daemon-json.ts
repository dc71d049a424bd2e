/**
 * `/etc/docker/daemon.json`, rendered from the validated options object (never from a text
 * template): keys sorted, two-space indent, trailing newline. The same options always give the same
 * bytes, so an unchanged config is never re-uploaded and never restarts the engine.
 */
import type { DaemonConfig } from "../../model/engine";
import { canonicalJson } from "../json";

/** The exact bytes of daemon.json for `daemon`. */
export function renderDaemonJson(daemon: DaemonConfig): string {
  return canonicalJson(daemon);
}
