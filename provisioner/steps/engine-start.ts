/**
 * `engine.start`: the engine runs with the planned config. Its check passes only when docker is
 * active AND the digest recorded at its last start equals the digest of the planned config files
 * (engine-configure.ts), so a config change restarts the engine exactly once and an unchanged
 * config never does.
 *
 * Restart, not reload: dockerd re-reads only some keys on SIGHUP (debug, labels, live-restore,
 * max-concurrent-*, registry-mirrors, insecure-registries...); telling which changed would need the
 * old daemon.json. A restart is always correct, and with `live-restore: true` (the default)
 * running containers survive it. Turning live-restore on is itself a restart without it.
 *
 * Published ports keep answering through the restart: dockerd flushes its iptables chains when it
 * starts and re-adds each container's rules (moby/moby#34660), so the restart script
 * (templates/engine/restart.sh.hbs) holds a copy of the port rules in chains of its own until
 * dockerd's are back.
 */
import type { Step } from "../step";
import { renderTemplate } from "../../templates/render";
import { engineConfigDigest } from "./engine-configure";
import { HOST_PATHS, type ProvisionContext } from "./engine-context";

/** The iptables chain (nat and filter) that holds published ports while dockerd restarts. */
export const HOLD_CHAIN = "LONGSHORE-HOLD";

/** `engine.start`: enable and (re)start docker when it is down or runs an older config. */
export const engineStartStep: Step<ProvisionContext> = {
  id: "engine.start",
  title: "Start the container engine",
  plan(ctx) {
    const digest = engineConfigDigest(ctx);
    const active = { argv: ["systemctl", "is-active", "--quiet", "docker.service"], sudo: true };
    return {
      check: [
        active,
        { argv: ["sh", "-c", '[ "$(cat "$1" 2>/dev/null)" = "$2" ]', "sh", HOST_PATHS.startedWith, digest], sudo: true },
      ],
      apply: [
        // Picks up a new or removed drop-in.
        { argv: ["systemctl", "daemon-reload"], sudo: true },
        { argv: ["systemctl", "enable", "--quiet", "docker.socket", "docker.service"], sudo: true },
        { argv: ["sh", "-c", renderTemplate("engine/restart.sh", { holdChain: HOLD_CHAIN, waitSeconds: 60 })], sudo: true, timeoutMs: 3 * 60_000 },
        {
          argv: ["sh", "-c", 'mkdir -p "$(dirname "$1")" && printf "%s\\n" "$2" > "$1"', "sh", HOST_PATHS.startedWith, digest],
          sudo: true,
        },
      ],
      verify: [active, { argv: ["docker", "version", "--format", "{{.Server.Version}}"], sudo: true }],
      timeoutMs: 4 * 60_000,
    };
  },
};
