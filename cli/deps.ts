/**
 * What the CLI needs from the outside world, injected so tests pass fakes (no globals, no
 * singletons). `realDeps()` in main.ts wires the real ones.
 */
import type { Transport } from "../provisioner/transport/transport";
import type { SshTarget } from "../model/ssh-target";
import type { SshConnectOptions } from "../provisioner/transport/connect-options";
import type { ExitCode } from "./exit-codes";
import type { OutStream } from "./output";
import type { DemoSshd } from "./demo-sshd";
import type { ResolvedCompose } from "../model/app";
import type { Environment } from "../model/environment";
import type { SlotDriver } from "../rollout/driver";
import type { SecretReader } from "../core/secret-reader";
import type { ResolvedSecrets } from "../model/secret-resolve";
import type { VerifiedBundle } from "../provisioner/bundle/verify";
import type { LoadedLock } from "../model/lock-file";

/** Dependencies every verb may use. */
export interface CliDeps {
  /** Opens one connection to a host (the ssh2 transport in production). */
  connect(target: SshTarget, options?: SshConnectOptions): Promise<Transport>;
  stdout: OutStream;
  stderr: OutStream;
  env: Readonly<Record<string, string | undefined>>;
  /** Relative paths on the command line resolve against this. */
  cwd: string;
  homeDir: string;
  readFile(path: string): Promise<string>;
  /** Reads secrets from their sources (the operator's environment, 0600 files, commands). */
  secretReader: SecretReader;
  /** Starts the throwaway local sshd of `facts --demo`. */
  startDemoSshd(): Promise<DemoSshd>;
  /** Aborted on Ctrl-C: commands in flight are cancelled. */
  signal?: AbortSignal;
  /**
   * The rollout driver of an environment (local machines + HAProxy, or the aws stack). `secrets`
   * are the environment's resolved secrets, or null for verbs that create no host (status, rollback).
   */
  environmentDriver(target: DriverTarget, progress: (line: string) => void): Promise<SlotDriver>;
  /** Removes every host and the load balancer of an environment; returns the groups removed. */
  destroyEnvironment(env: Environment, progress: (line: string) => void, options?: DestroyOptions): Promise<string[]>;
  /** The environment's accessory data directories on this computer (`destroy` asks before removing them). @default none */
  accessoryData?(env: Environment): string[];
  /** `up`: makes sure the environment's accessories run (created when missing; running ones untouched). @default nothing to do */
  ensureAccessories?(target: DriverTarget, progress: (line: string) => void): Promise<void>;
  /** Where an environment's operation lock lives (machine state, not in git). */
  operationLockDir(env: Environment): string;
  /** Git's `user.email` as seen from `dir`, or null (no git, not set): the operator when `$LONGSHORE_OPERATOR` is unset. */
  gitUserEmail(dir: string): Promise<string | null>;
  /** `user@host` of this computer: the operator when neither `$LONGSHORE_OPERATOR` nor git's `user.email` is set. */
  userAtHost(): string;
}

/** How `destroy` treats accessory data. */
export interface DestroyOptions {
  /** `keep`: the data directories stay (a later `up` uses them); `delete`: removed too. @default "none" (there is none) */
  data?: "none" | "keep" | "delete";
}

/** What a driver is made for: the environment, where its file is, and its secrets when hosts may be created. */
export interface DriverTarget {
  env: Environment;
  /** The environment file (the aws driver edits it before `pulumi up`). */
  file: string;
  /** Its directory (relative paths in the file start here). */
  baseDir: string;
  secrets: ResolvedSecrets | null;
  /**
   * The bundle directory `engine.bundle` names, already verified (so it is not hashed twice), when
   * hosts may be created; null for a recipe, the distribution's engine, or verbs that create none.
   */
  bundle: VerifiedBundle | null;
  /** `DOCKER_HOST` of the operator's environment: the engine `app.imageFrom: engine` reads from. @default unset */
  dockerHost?: string;
  /** The environment file as the user names it (`longshore.yaml`), for messages. @default file */
  displayName?: string;
  /** A Compose app's file (`app.compose`), read and checked with the environment. @default none (a single-container app) */
  compose?: ResolvedCompose | null;
  /** Where the image source was chosen when not `app.imageFrom` (`--from`), for errors about it. @default app.imageFrom in the file */
  imageFromNamedBy?: { source: string; key: string };
  /**
   * The environment's lock (`longshore.lock`), read and validated with the other inputs when hosts
   * may be created: bundles follow it and first resolutions are pinned in it. @default none
   */
  lock?: LoadedLock | null;
}

/** What a verb's `register` receives: the dependencies plus a way to report a non-error exit code. */
export interface VerbDeps extends CliDeps {
  /** Sets the process exit code for outcomes that are reported, not thrown (e.g. a command exited 3). */
  setExitCode(code: ExitCode): void;
}
