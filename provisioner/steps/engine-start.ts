/**
 * `engine.start`: the engine runs with the planned config. "Runs with" is read from the running
 * daemon's side, not from what longshore last did: a drop-in (`longshore-record.conf`) makes
 * systemd run `record-config.sh` each time docker starts or reloads, which writes the digest of the
 * config files as dockerd reads them (`start <digest>`, then `reload <digest>` per reload). So a
 * daemon someone restarted by hand after editing daemon.json is recorded with the edited digest,
 * and when engine.configure puts the file back, this step's check still fails and restarts it.
 *
 * The check passes only when docker is active, systemd has loaded the unit files on disk
 * (`NeedDaemonReload=no`: a changed drop-in is not in force until a daemon-reload), and every line
 * of the record names the planned digest, the first being a start. Otherwise: daemon-reload,
 * enable, restart; verify then reads the record the restart wrote.
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
import type { Command } from "../command";
import type { RemoteFile, Step } from "../step";
import { renderTemplate } from "../../templates/render";
import { engineConfigDigest } from "./engine-configure";
import { HOST_PATHS, type ProvisionContext } from "./engine-context";
import { ENGINE_FACT_FORMATS } from "./engine-verify";

/** The iptables chain (nat and filter) that holds published ports while dockerd restarts. */
export const HOLD_CHAIN = "LONGSHORE-HOLD";

/** Where the recorder reads and writes; tests move them into a temporary directory. */
export interface RecordPaths {
  recordPath: string;
  daemonJson: string;
  hostsDropIn: string;
  /** The daemon's reported facts after its start (engine.verify reads them). @default HOST_PATHS.runningFacts */
  factsPath?: string;
}

/**
 * The script systemd runs at each docker start (`start`, before; `facts`, after the daemon is up)
 * and reload (`reload`).
 */
export function recordConfigScript(paths: RecordPaths = { recordPath: HOST_PATHS.runningConfig, daemonJson: HOST_PATHS.daemonJson, hostsDropIn: HOST_PATHS.hostsDropIn }): string {
  return renderTemplate("engine/record-config.sh", {
    factsPath: HOST_PATHS.runningFacts,
    ...paths,
    infoFormat: ENGINE_FACT_FORMATS.info.join("\n"),
    versionFormat: ENGINE_FACT_FORMATS.version.join("\n"),
  });
}

/**
 * Exits 0 only when the record at `$1` starts with `start $2` and has no line but `start $2` and
 * `reload $2`: the running daemon read the planned config at its start and at every reload since.
 */
export function runningConfigCheck(recordPath: string, digest: string): Command {
  return {
    argv: ["sh", "-c", 'f=$1; d=$2; [ "$(head -n 1 "$f" 2>/dev/null)" = "start $d" ] && ! grep -qvxF -e "start $d" -e "reload $d" "$f"', "sh", recordPath, digest],
    sudo: true,
  };
}

/**
 * Exits 0 when docker.service is active; while it is activating (or reloading) it waits, up to 60
 * s, for it to settle. Read-only.
 */
export const ACTIVE_SCRIPT = `for _ in $(seq 300); do
  case "$(systemctl show -p ActiveState --value docker.service)" in
    active) exit 0 ;;
    activating|reloading) sleep 0.2 ;;
    *) exit 3 ;;
  esac
done
exit 3`;

/** `engine.start`: enable and (re)start docker when it is down or runs another config than the planned one. */
export const engineStartStep: Step<ProvisionContext> = {
  id: "engine.start",
  title: "Start the container engine",
  plan(ctx) {
    // A daemon still starting (a machine that just booted; the recorder's ExecStartPost) is not
    // down: wait for it to settle, up to a minute, before calling it inactive and restarting it.
    const active = { argv: ["sh", "-c", ACTIVE_SCRIPT], sudo: true };
    const recorded = runningConfigCheck(HOST_PATHS.runningConfig, engineConfigDigest(ctx));
    const files: RemoteFile[] = [
      { path: HOST_PATHS.recordConfigScript, source: { content: recordConfigScript() }, mode: 0o755, sudo: true },
      { path: HOST_PATHS.recordDropIn, source: { content: renderTemplate("engine/docker-record.conf", { recordScript: HOST_PATHS.recordConfigScript }) }, mode: 0o644, sudo: true },
    ];
    return {
      check: [
        active,
        { argv: ["sh", "-c", '[ "$(systemctl show -p NeedDaemonReload --value docker.service)" = no ]'], sudo: true },
        recorded,
      ],
      files,
      apply: [
        // Loads new or removed drop-ins (the recorder's, the hosts one).
        { argv: ["systemctl", "daemon-reload"], sudo: true },
        { argv: ["systemctl", "enable", "--quiet", "docker.socket", "docker.service"], sudo: true },
        // The restart runs the recorder (ExecStartPre): verify reads what it wrote.
        { argv: ["sh", "-c", renderTemplate("engine/restart.sh", { holdChain: HOLD_CHAIN, waitSeconds: 60 })], sudo: true, timeoutMs: 3 * 60_000 },
      ],
      verify: [active, recorded, { argv: ["docker", "version", "--format", "{{.Server.Version}}"], sudo: true }],
      timeoutMs: 4 * 60_000,
    };
  },
};
