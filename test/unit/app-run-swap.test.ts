// Does not prove a real engine behaves like the fake `docker` here (e2e runs the swap against dockerd): it runs app.run's create-then-swap script with real /bin/sh against a fake `docker` that keeps container state in files and, as the engine does with a container it is restarting, refuses to rename a running container; and pins createArguments exactly.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseResolvedApp } from "../../model/app";
import { appRunStep, createArguments, SWAP_SCRIPT } from "../../provisioner/steps/app-run";
import type { ProvisionContext } from "../../provisioner/steps/engine-context";
import { IMAGE_ID, makeContext } from "./fixtures/engine-context";

const root = mkdtempSync(path.join(tmpdir(), "longshore-app-run-swap-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * A fake `docker` for the commands the swap script runs. Containers are files in $FAKE_DOCKER_STATE
 * (`<id>.name`, `<id>.status`, `<id>.labels`); every call is appended to `log` (words separated by
 * \x1f, calls by \x1e, so an empty word survives). Like the engine, it refuses to rename a running
 * (or restarting) container: a real engine refuses that for a container it is restarting, with
 * "sandbox ... not found", so the script must only ever rename stopped or created containers.
 * Failures are asked for: FAKE_CREATE_FAILS (the daemon's message), FAKE_START_FAILS /
 * FAKE_EXITS_AT_ONCE (a label of the container, as its name changes during the swap),
 * FAKE_RENAME_FAILS (the name renamed to).
 */
const FAKE_DOCKER = String.raw`#!/bin/sh
S=$FAKE_DOCKER_STATE
{ printf '%s\037' docker "$@"; printf '\036'; } >> "$S/log"
# The id of the container with this id or name.
find_id() {
  for fid in "$S"/*.name; do
    [ -e "$fid" ] || continue
    if [ "$(basename "$fid" .name)" = "$1" ] || [ "$(cat "$fid")" = "$1" ]; then basename "$fid" .name; return 0; fi
  done
  return 1
}
# Whether the container with this id has this label.
has_label() { [ -n "$2" ] && grep -qxF -- "$2" "$S/$1.labels"; }
cmd=$1; shift
case "$cmd" in
  ps)
    [ "$1" = -aq ] && [ "$2" = --filter ] && [ $# -eq 3 ] || { echo "fake docker: unexpected ps $*" >&2; exit 2; }
    for f in "$S"/*.name; do
      [ -e "$f" ] || continue
      i=$(basename "$f" .name)
      case "$3" in
        label=*) if has_label "$i" "$(printf '%s' "$3" | cut -d= -f2-)"; then echo "$i"; fi ;;
        # The engine matches the name filter as a regular expression against "/<name>".
        name=*) if printf '/%s\n' "$(cat "$f")" | grep -qE -- "$(printf '%s' "$3" | cut -d= -f2-)"; then echo "$i"; fi ;;
        *) echo "fake docker: unexpected filter $3" >&2; exit 2 ;;
      esac
    done ;;
  create)
    [ "$1" = --name ] || { echo "fake docker: create without --name" >&2; exit 2; }
    name=$2; shift 2
    if [ -n "$FAKE_CREATE_FAILS" ]; then echo "docker: Error response from daemon: $FAKE_CREATE_FAILS." >&2; exit 125; fi
    if find_id "$name" >/dev/null; then echo "docker: Error response from daemon: Conflict. The container name \"/$name\" is already in use." >&2; exit 125; fi
    n=$(( $(cat "$S/next-id" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$S/next-id"
    i=$(printf 'c%011d' "$n")
    printf '%s\n' "$name" > "$S/$i.name"; echo created > "$S/$i.status"; : > "$S/$i.labels"
    while [ $# -gt 0 ]; do
      if [ "$1" = --label ]; then printf '%s\n' "$2" >> "$S/$i.labels"; shift 2; else shift; fi
    done
    echo "$i" ;;
  inspect)
    [ "$1" = --format ] && [ $# -eq 3 ] || { echo "fake docker: unexpected inspect $*" >&2; exit 2; }
    i=$(find_id "$3") || { echo "Error: No such object: $3" >&2; exit 1; }
    st=$(cat "$S/$i.status")
    case "$2" in
      '{{.State.Running}}') if [ "$st" = running ]; then echo true; else echo false; fi ;;
      '{{.State.Status}}') echo "$st" ;;
      *) echo "fake docker: unexpected format $2" >&2; exit 2 ;;
    esac ;;
  stop)
    for a in "$@"; do
      i=$(find_id "$a") || { echo "Error response from daemon: No such container: $a" >&2; exit 1; }
      echo exited > "$S/$i.status"; echo "$a"
    done ;;
  start)
    for a in "$@"; do
      i=$(find_id "$a") || { echo "Error response from daemon: No such container: $a" >&2; exit 1; }
      if has_label "$i" "$FAKE_START_FAILS"; then
        echo "Error response from daemon: driver failed programming external connectivity: port is already allocated" >&2
        exit 1
      fi
      if has_label "$i" "$FAKE_EXITS_AT_ONCE"; then echo exited > "$S/$i.status"; else echo running > "$S/$i.status"; fi
      echo "$a"
    done ;;
  logs)
    [ "$1" = --tail ] && [ "$2" = 20 ] && [ $# -eq 3 ] || { echo "fake docker: unexpected logs $*" >&2; exit 2; }
    find_id "$3" >/dev/null || { echo "Error response from daemon: No such container: $3" >&2; exit 1; }
    echo "listening on :8080"
    echo "fatal: DATABASE_URL is not set" >&2 ;;
  rm)
    [ "$1" = -f ] || { echo "fake docker: rm without -f" >&2; exit 2; }
    shift; rc=0
    for a in "$@"; do
      if i=$(find_id "$a"); then rm -f "$S/$i.name" "$S/$i.status" "$S/$i.labels"; echo "$a"
      else echo "Error response from daemon: No such container: $a" >&2; rc=1; fi
    done
    exit $rc ;;
  rename)
    [ $# -eq 2 ] || { echo "fake docker: unexpected rename $*" >&2; exit 2; }
    i=$(find_id "$1") || { echo "Error response from daemon: No such container: $1" >&2; exit 1; }
    case "$(cat "$S/$i.status")" in
      running|restarting) echo "Error response from daemon: sandbox 0123 not found" >&2; exit 1 ;;
    esac
    if [ "$2" = "$FAKE_RENAME_FAILS" ] || find_id "$2" >/dev/null; then
      echo "Error response from daemon: Conflict. The container name \"/$2\" is already in use." >&2; exit 1
    fi
    printf '%s\n' "$2" > "$S/$i.name" ;;
  *) echo "fake docker: unexpected command $cmd" >&2; exit 2 ;;
esac
exit 0
`;

/** A `sleep` that only records that it was called: the fake's containers exit at once or never. */
const FAKE_SLEEP = String.raw`#!/bin/sh
{ printf '%s\037' sleep "$@"; printf '\036'; } >> "$FAKE_DOCKER_STATE/log"
`;

interface Container {
  name: string;
  status: "created" | "running" | "exited";
  labels: string[];
}

/** One fake host: a bin dir with docker and sleep, the engine's state, the app's env file directory. */
class FakeHost {
  readonly dir = mkdtempSync(path.join(root, "host-"));
  readonly bin = path.join(this.dir, "bin");
  readonly state = path.join(this.dir, "state");
  readonly envDir = path.join(this.dir, "apps", "web");

  constructor() {
    for (const d of [this.bin, this.state, this.envDir]) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(this.bin, "docker"), FAKE_DOCKER);
    writeFileSync(path.join(this.bin, "sleep"), FAKE_SLEEP);
    chmodSync(path.join(this.bin, "docker"), 0o755);
    chmodSync(path.join(this.bin, "sleep"), 0o755);
    writeFileSync(path.join(this.state, "log"), "");
  }

  add(id: string, c: Container): void {
    writeFileSync(path.join(this.state, `${id}.name`), `${c.name}\n`);
    writeFileSync(path.join(this.state, `${id}.status`), `${c.status}\n`);
    writeFileSync(path.join(this.state, `${id}.labels`), c.labels.map((l) => `${l}\n`).join(""));
  }

  /** Every container, by id. */
  containers(): Record<string, Container> {
    const out: Record<string, Container> = {};
    for (const f of readdirSync(this.state).filter((f) => f.endsWith(".name")).sort()) {
      const id = f.slice(0, -".name".length);
      const read = (ext: string) => readFileSync(path.join(this.state, `${id}.${ext}`), "utf8");
      out[id] = { name: read("name").trim(), status: read("status").trim() as Container["status"], labels: read("labels").split("\n").filter(Boolean) };
    }
    return out;
  }

  /** Every call to docker and sleep, in order, as argv. */
  calls(): string[][] {
    return readFileSync(path.join(this.state, "log"), "utf8")
      .split("\x1e")
      .filter((r) => r !== "")
      .map((r) => r.split("\x1f").slice(0, -1));
  }

  envFiles(): string[] {
    return readdirSync(this.envDir).sort();
  }

  /** Runs the fake docker alone, as a shell would. */
  docker(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync("docker", args, { env: { PATH: `${this.bin}:${process.env["PATH"]}`, FAKE_DOCKER_STATE: this.state }, encoding: "utf8" });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs the plan's swap command with /bin/sh, the env file directory moved here. */
  swap(ctx: ProvisionContext, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
    const argv = [...(appRunStep.plan(ctx).apply[0]!.argv as string[])];
    expect(argv.slice(0, 7)).toEqual(["sh", "-c", SWAP_SCRIPT, "sh", ctx.app.name, `${ctx.app.name}-${ctx.release}`, `/etc/longshore/apps/${ctx.app.name}`]);
    argv[6] = this.envDir;
    const r = spawnSync("/bin/sh", argv.slice(1), {
      env: { PATH: `${this.bin}:${process.env["PATH"]}`, FAKE_DOCKER_STATE: this.state, ...env },
      encoding: "utf8",
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
}

const ctx = makeContext();
const NEW_LABELS = ["io.longshore.app=web", "io.longshore.version=1.4.2", "io.longshore.slot=blue", "io.longshore.plan=p1an"];
const OLD_LABELS = ["io.longshore.app=web", "io.longshore.version=1.4.1", "io.longshore.slot=blue", "io.longshore.plan=0ld"];
/** The labels of a container of the same release made from an earlier plan (a changed spec or a rotated secret). */
const SAME_RELEASE_LABELS = [...NEW_LABELS.slice(0, 3), "io.longshore.plan=before"];
/** Only the new container has this label: a failure asked for with it hits the new container, never an old one. */
const NEW_ONLY = "io.longshore.plan=p1an";
const CREATE = ["docker", "create", "--name", "web-1.4.2.next", ...createArguments(ctx)];
/** Finds a container by its exact name: the dots escaped, the name anchored. */
const BY_NAME = ["docker", "ps", "-aq", "--filter", "name=^/web-1\\.4\\.2$"];
/** Finds a container by the exact .prev name (a leftover of an interrupted run, or the old one moved aside). */
const BY_PREV = ["docker", "ps", "-aq", "--filter", "name=^/web-1\\.4\\.2\\.prev$"];
/** What every run does first: drop a leftover .next, list the app's containers by label, by exact name and by the exact .prev name. */
const PROLOGUE = [
  ["docker", "rm", "-f", "web-1.4.2.next"],
  ["docker", "ps", "-aq", "--filter", "label=io.longshore.app=web"],
  BY_NAME,
  BY_PREV,
];
/** The new container takes the name while it is only created, and starts under it. */
const MOVE_AND_START = [
  ["docker", "rename", "web-1.4.2.next", "web-1.4.2"],
  ["docker", "start", "web-1.4.2"],
];
/** After replacing a running container: wait, then check the new one still runs. */
const CHECK_STILL_RUNNING = [
  ["sleep", "1"],
  ["docker", "inspect", "--format", "{{.State.Status}}", "web-1.4.2"],
];
/** The fake's last log lines of the new container, then its removal. */
const DROP_NEW = [
  ["docker", "logs", "--tail", "20", "web-1.4.2"],
  ["docker", "rm", "-f", "web-1.4.2"],
];
const NEW_RUNNING = { c00000000001: { name: "web-1.4.2", status: "running", labels: NEW_LABELS } };
const PORT_TAKEN = "Error response from daemon: driver failed programming external connectivity: port is already allocated\n";
const DID_NOT_KEEP_RUNNING =
  "app.run: the new container did not keep running; its last log lines:\n" + "  listening on :8080\n" + "  fatal: DATABASE_URL is not set\n";
const STARTED_AGAIN = "app.run: the previous container was started again\n";

/** A host running web 1.4.1, with its env file and the one app.run just uploaded for 1.4.2. */
function hostWithOldRelease(): FakeHost {
  const h = new FakeHost();
  h.add("old000000001", { name: "web-1.4.1", status: "running", labels: OLD_LABELS });
  for (const f of ["web-1.4.1.env", "web-1.4.2.env"]) writeFileSync(path.join(h.envDir, f), "MODE=prod\n", { mode: 0o600 });
  return h;
}

/** A host running web 1.4.2 from an earlier plan: the old container holds the name the new one needs. */
function hostWithSameRelease(): FakeHost {
  const h = new FakeHost();
  h.add("same00000001", { name: "web-1.4.2", status: "running", labels: SAME_RELEASE_LABELS });
  writeFileSync(path.join(h.envDir, "web-1.4.2.env"), "MODE=prod\n", { mode: 0o600 });
  return h;
}

describe("app.run's swap script (real sh, fake docker)", () => {
  it("when docker create fails: exit 1, the running container is never stopped or removed", () => {
    const h = hostWithOldRelease();
    const r = h.swap(ctx, { FAKE_CREATE_FAILS: "invalid reference format" });
    expect(r).toEqual({
      status: 1,
      stdout: "",
      stderr:
        "docker: Error response from daemon: invalid reference format.\n" +
        "app.run: the new container could not be created; the running one (if any) was left as it was\n",
    });
    expect(h.calls()).toEqual([...PROLOGUE, CREATE]);
    expect(h.containers()).toEqual({ old000000001: { name: "web-1.4.1", status: "running", labels: OLD_LABELS } });
    expect(h.envFiles()).toEqual(["web-1.4.1.env", "web-1.4.2.env"]);
  });

  it("when the new container does not start: it is removed and the old one started again, exit 1", () => {
    const h = hostWithOldRelease();
    const r = h.swap(ctx, { FAKE_START_FAILS: NEW_ONLY });
    expect(r).toEqual({ status: 1, stdout: "", stderr: PORT_TAKEN + DID_NOT_KEEP_RUNNING + STARTED_AGAIN });
    expect(h.calls()).toEqual([
      ...PROLOGUE,
      CREATE,
      ["docker", "inspect", "--format", "{{.State.Running}}", "old000000001"],
      ["docker", "stop", "old000000001"],
      BY_PREV,
      BY_NAME,
      ...MOVE_AND_START,
      ...DROP_NEW,
      ["docker", "start", "old000000001"],
    ]);
    expect(h.containers()).toEqual({ old000000001: { name: "web-1.4.1", status: "running", labels: OLD_LABELS } });
    expect(h.envFiles()).toEqual(["web-1.4.1.env", "web-1.4.2.env"]);
  });

  it("when the new container exits at once while an old one was running: the old one is started again, exit 1", () => {
    const h = hostWithOldRelease();
    const r = h.swap(ctx, { FAKE_EXITS_AT_ONCE: NEW_ONLY });
    expect(r).toEqual({ status: 1, stdout: "", stderr: DID_NOT_KEEP_RUNNING + STARTED_AGAIN });
    expect(h.calls()).toEqual([
      ...PROLOGUE,
      CREATE,
      ["docker", "inspect", "--format", "{{.State.Running}}", "old000000001"],
      ["docker", "stop", "old000000001"],
      BY_PREV,
      BY_NAME,
      ...MOVE_AND_START,
      ...CHECK_STILL_RUNNING,
      ...DROP_NEW,
      ["docker", "start", "old000000001"],
    ]);
    expect(h.containers()).toEqual({ old000000001: { name: "web-1.4.1", status: "running", labels: OLD_LABELS } });
    expect(h.envFiles()).toEqual(["web-1.4.1.env", "web-1.4.2.env"]);
  });

  it("on success: the new one takes the name before it starts, the old container is removed, other env files removed", () => {
    const h = hostWithOldRelease();
    writeFileSync(path.join(h.envDir, "web-1.3.0.env"), "MODE=prod\nDB_PASSWORD=old-secret\n");
    writeFileSync(path.join(h.envDir, "README"), "not an env file\n");
    const r = h.swap(ctx);
    expect(r).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(h.calls()).toEqual([
      ...PROLOGUE,
      CREATE,
      ["docker", "inspect", "--format", "{{.State.Running}}", "old000000001"],
      ["docker", "stop", "old000000001"],
      BY_PREV,
      BY_NAME,
      ...MOVE_AND_START,
      ...CHECK_STILL_RUNNING,
      ["docker", "rm", "-f", "old000000001"],
    ]);
    expect(h.containers()).toEqual(NEW_RUNNING);
    expect(h.envFiles()).toEqual(["README", "web-1.4.2.env"]);
    expect(readFileSync(path.join(h.envDir, "web-1.4.2.env"), "utf8")).toBe("MODE=prod\n");
  });

  it("matches container names literally: the dots in every name filter are escaped", () => {
    const h = hostWithOldRelease();
    // Each matches its filter with the dots unescaped (^/web-1.4.2$, ^/web-1.4.2.prev$), but is another app's container.
    h.add("other0000001", { name: "web-1x4x2", status: "running", labels: ["io.longshore.app=other"] });
    h.add("other0000002", { name: "web-1x4x2xprev", status: "running", labels: ["io.longshore.app=other"] });
    expect(h.swap(ctx)).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(h.calls()).toEqual([
      ...PROLOGUE,
      CREATE,
      ["docker", "inspect", "--format", "{{.State.Running}}", "old000000001"],
      ["docker", "stop", "old000000001"],
      BY_PREV,
      BY_NAME,
      ...MOVE_AND_START,
      ...CHECK_STILL_RUNNING,
      ["docker", "rm", "-f", "old000000001"],
    ]);
    expect(h.containers()).toEqual({
      ...NEW_RUNNING,
      other0000001: { name: "web-1x4x2", status: "running", labels: ["io.longshore.app=other"] },
      other0000002: { name: "web-1x4x2xprev", status: "running", labels: ["io.longshore.app=other"] },
    });
  });

  it("re-creates a container of the same release: found by label and by name, stopped, moved to .prev, removed once", () => {
    const h = hostWithSameRelease();
    expect(h.swap(ctx)).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(h.calls()).toEqual([
      ...PROLOGUE,
      CREATE,
      ["docker", "inspect", "--format", "{{.State.Running}}", "same00000001"],
      ["docker", "stop", "same00000001"],
      BY_PREV,
      BY_NAME,
      ["docker", "rename", "same00000001", "web-1.4.2.prev"],
      ...MOVE_AND_START,
      ...CHECK_STILL_RUNNING,
      ["docker", "rm", "-f", "same00000001"],
    ]);
    expect(h.containers()).toEqual(NEW_RUNNING);
    expect(h.envFiles()).toEqual(["web-1.4.2.env"]);
  });

  it.each<{ how: string; env: Record<string, string>; stderr: string; check: string[][] }>([
    { how: "does not start", env: { FAKE_START_FAILS: NEW_ONLY }, stderr: PORT_TAKEN + DID_NOT_KEEP_RUNNING + STARTED_AGAIN, check: [] },
    { how: "exits at once", env: { FAKE_EXITS_AT_ONCE: NEW_ONLY }, stderr: DID_NOT_KEEP_RUNNING + STARTED_AGAIN, check: CHECK_STILL_RUNNING },
  ])("when the new container $how: the old one moved to .prev gets its name back and runs again, exit 1", ({ env, stderr, check }) => {
    const h = hostWithSameRelease();
    expect(h.swap(ctx, env)).toEqual({ status: 1, stdout: "", stderr });
    expect(h.calls()).toEqual([
      ...PROLOGUE,
      CREATE,
      ["docker", "inspect", "--format", "{{.State.Running}}", "same00000001"],
      ["docker", "stop", "same00000001"],
      BY_PREV,
      BY_NAME,
      ["docker", "rename", "same00000001", "web-1.4.2.prev"],
      ...MOVE_AND_START,
      ...check,
      ...DROP_NEW,
      ["docker", "rename", "same00000001", "web-1.4.2"],
      ["docker", "start", "same00000001"],
    ]);
    expect(h.containers()).toEqual({ same00000001: { name: "web-1.4.2", status: "running", labels: SAME_RELEASE_LABELS } });
    expect(h.envFiles()).toEqual(["web-1.4.2.env"]);
  });

  it("when the old container cannot be moved out of the name: exit 1, the new one removed, the old one running again", () => {
    const h = hostWithSameRelease();
    const r = h.swap(ctx, { FAKE_RENAME_FAILS: "web-1.4.2.prev" });
    expect(r).toEqual({
      status: 1,
      stdout: "",
      stderr:
        'Error response from daemon: Conflict. The container name "/web-1.4.2.prev" is already in use.\n' +
        "app.run: could not move the old container out of the name web-1.4.2\n" +
        "app.run: the previous container was started again\n",
    });
    expect(h.calls()).toEqual([
      ...PROLOGUE,
      CREATE,
      ["docker", "inspect", "--format", "{{.State.Running}}", "same00000001"],
      ["docker", "stop", "same00000001"],
      BY_PREV,
      BY_NAME,
      ["docker", "rename", "same00000001", "web-1.4.2.prev"],
      ["docker", "rm", "-f", "web-1.4.2.next"],
      ["docker", "start", "same00000001"],
    ]);
    expect(h.containers()).toEqual({ same00000001: { name: "web-1.4.2", status: "running", labels: SAME_RELEASE_LABELS } });
    expect(h.envFiles()).toEqual(["web-1.4.2.env"]);
  });

  it.each([
    { what: "labelled, as the script's containers are", labels: SAME_RELEASE_LABELS },
    { what: "unlabelled, so only the .prev name filter finds it", labels: [] },
  ])("finds a .prev left by an interrupted run ($what) and removes it on success", ({ labels }) => {
    // A run interrupted after moving the old container out of the name: .prev stopped, .next only created.
    const h = new FakeHost();
    h.add("next00000001", { name: "web-1.4.2.next", status: "created", labels: NEW_LABELS });
    h.add("prev00000001", { name: "web-1.4.2.prev", status: "exited", labels });
    writeFileSync(path.join(h.envDir, "web-1.4.2.env"), "MODE=prod\n");
    expect(h.swap(ctx)).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(h.calls()).toEqual([
      ...PROLOGUE,
      CREATE,
      ["docker", "inspect", "--format", "{{.State.Running}}", "prev00000001"],
      BY_PREV,
      // Stopped, so it goes before the name moves (it would block a later .prev).
      ["docker", "rm", "-f", "prev00000001"],
      BY_NAME,
      ...MOVE_AND_START,
      ["docker", "rm", "-f", "prev00000001"],
    ]);
    expect(h.containers()).toEqual(NEW_RUNNING);
    expect(h.envFiles()).toEqual(["web-1.4.2.env"]);
  });

  it("a .prev left by an interrupted run of the same release does not block the next one: it goes, the holder moves aside", () => {
    // Interrupted after both renames and before the final removal: .prev stopped, the new one holding the name.
    const h = new FakeHost();
    h.add("prev00000001", { name: "web-1.4.2.prev", status: "exited", labels: SAME_RELEASE_LABELS });
    h.add("same00000001", { name: "web-1.4.2", status: "running", labels: SAME_RELEASE_LABELS });
    expect(h.swap(ctx)).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(h.containers()).toEqual(NEW_RUNNING);
  });

  it("on a host with no container of the app: creates, names and starts it, nothing to stop, no wait", () => {
    const h = new FakeHost();
    expect(h.swap(ctx)).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(h.calls()).toEqual([...PROLOGUE, CREATE, BY_PREV, BY_NAME, ...MOVE_AND_START]);
    expect(h.containers()).toEqual(NEW_RUNNING);
  });

  it("removes a .next left by an interrupted run, and removes stopped old containers without starting them", () => {
    const h = new FakeHost();
    h.add("next00000001", { name: "web-1.4.2.next", status: "created", labels: NEW_LABELS });
    h.add("old000000001", { name: "web-1.4.1", status: "exited", labels: OLD_LABELS });
    expect(h.swap(ctx)).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(h.calls()).toEqual([
      ...PROLOGUE,
      CREATE,
      ["docker", "inspect", "--format", "{{.State.Running}}", "old000000001"],
      BY_PREV,
      BY_NAME,
      ...MOVE_AND_START,
      ["docker", "rm", "-f", "old000000001"],
    ]);
    expect(h.containers()).toEqual(NEW_RUNNING);
  });

  it("hands every create argument through the shell unchanged, an empty --entrypoint included", () => {
    const h = new FakeHost();
    const app = parseResolvedApp({ name: "web", image: "web:1.4.2", entrypoint: [], command: ["sh", "-c", "exec serve --port \"$PORT\" 'a b'"] });
    const c = makeContext({ app });
    expect(h.swap(c).status).toBe(0);
    const create = h.calls()[PROLOGUE.length]!;
    expect(create).toEqual(["docker", "create", "--name", "web-1.4.2.next", ...createArguments(c)]);
    expect(create.slice(12, 14)).toEqual(["--entrypoint", ""]);
    expect(create.slice(-4)).toEqual([IMAGE_ID, "sh", "-c", "exec serve --port \"$PORT\" 'a b'"]);
  });
});

describe("createArguments", () => {
  it("says everything the app says, in a fixed order, the image's arguments after the image", () => {
    const app = parseResolvedApp({
      name: "shop",
      image: "registry.example:5000/shop/web:2.0.1",
      entrypoint: ["/usr/bin/tini", "--"],
      command: ["web", "--port", "9000"],
      port: 9000,
      hostPort: 80,
      env: { MODE: "prod" },
      secrets: { DB_PASSWORD: "pw-1" },
      volumes: ["/srv/shop/uploads:/app/uploads", "shop-cache:/app/cache:ro", "/etc/shop/tls:/tls:rw"],
      resources: { memory: "512m", cpus: 1.5 },
      logging: { driver: "json-file", options: { "max-size": "10m", "max-file": 3, compress: true } },
      stopTimeoutSeconds: 30,
      restart: "on-failure",
      init: true,
      user: "1000:1000",
    });
    const c = makeContext({ app, release: "2.0.1", slot: "green", image: { source: "registry", ref: app.image } });
    expect(createArguments(c)).toEqual([
      "--restart", "on-failure",
      "--publish", "80:9000",
      "--env-file", "/etc/longshore/apps/shop/shop-2.0.1.env",
      "--stop-timeout", "30",
      "--init",
      "--user", "1000:1000",
      "--memory", "512m",
      "--cpus", "1.5",
      "--log-driver", "json-file",
      "--log-opt", "compress=true",
      "--log-opt", "max-file=3",
      "--log-opt", "max-size=10m",
      "--volume", "/srv/shop/uploads:/app/uploads",
      "--volume", "shop-cache:/app/cache:ro",
      "--volume", "/etc/shop/tls:/tls",
      "--entrypoint", "/usr/bin/tini",
      "--label", "io.longshore.app=shop",
      "--label", "io.longshore.version=2.0.1",
      "--label", "io.longshore.slot=green",
      "--label", "io.longshore.plan=p1an",
      "registry.example:5000/shop/web:2.0.1",
      "--", "web", "--port", "9000",
    ]);
    // The secret travels in the env file only.
    expect(createArguments(c).join(" ")).not.toContain("pw-1");
  });

  it("clears the image's entrypoint with an empty --entrypoint for entrypoint []", () => {
    const app = parseResolvedApp({ name: "web", image: "web:1.4.2", entrypoint: [], command: ["serve", "--fast"] });
    expect(createArguments(makeContext({ app, planHash: undefined }))).toEqual([
      "--restart", "unless-stopped",
      "--publish", "8080:8080",
      "--env-file", "/etc/longshore/apps/web/web-1.4.2.env",
      "--stop-timeout", "10",
      "--entrypoint", "",
      "--label", "io.longshore.app=web",
      "--label", "io.longshore.version=1.4.2",
      "--label", "io.longshore.slot=blue",
      IMAGE_ID,
      "serve", "--fast",
    ]);
  });

  it("keeps the image's entrypoint and CMD when the app sets neither", () => {
    expect(createArguments(makeContext())).toEqual([
      "--restart", "unless-stopped",
      "--publish", "8080:8080",
      "--env-file", "/etc/longshore/apps/web/web-1.4.2.env",
      "--stop-timeout", "10",
      "--label", "io.longshore.app=web",
      "--label", "io.longshore.version=1.4.2",
      "--label", "io.longshore.slot=blue",
      "--label", "io.longshore.plan=p1an",
      IMAGE_ID,
    ]);
  });
});

describe("the fake docker itself", () => {
  it("refuses a second container of the same name, as the engine does", () => {
    const h = new FakeHost();
    h.add("x00000000001", { name: "web-1.4.2.next", status: "created", labels: [] });
    const r = h.docker("create", "--name", "web-1.4.2.next", "img");
    expect(r.status).toBe(125);
    expect(r.stderr).toBe('docker: Error response from daemon: Conflict. The container name "/web-1.4.2.next" is already in use.\n');
    expect(existsSync(path.join(h.state, "c00000000001.name"))).toBe(false);
  });

  it("refuses to rename a started container, as the engine does one it is restarting; renames a created or stopped one", () => {
    const h = new FakeHost();
    h.add("x00000000001", { name: "web-1.4.2.next", status: "created", labels: [] });
    expect(h.docker("start", "web-1.4.2.next")).toEqual({ status: 0, stdout: "web-1.4.2.next\n", stderr: "" });
    expect(h.docker("rename", "web-1.4.2.next", "web-1.4.2")).toEqual({ status: 1, stdout: "", stderr: "Error response from daemon: sandbox 0123 not found\n" });
    h.add("x00000000002", { name: "web-1.4.1", status: "exited", labels: [] });
    h.add("x00000000003", { name: "web-1.4.0", status: "created", labels: [] });
    expect(h.docker("rename", "x00000000002", "web-1.4.1.prev")).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(h.docker("rename", "web-1.4.0", "web-1.4.0.prev")).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(Object.values(h.containers()).map((c) => `${c.name} ${c.status}`)).toEqual(["web-1.4.2.next running", "web-1.4.1.prev exited", "web-1.4.0.prev created"]);
  });
});
