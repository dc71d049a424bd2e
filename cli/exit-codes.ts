/**
 * The CLI's exit codes, decided in this one place from the error's class. Scripts can rely on
 * them: retry on 3, fix input on 2, look at the host on 4. `plan --detailed-exitcode` swaps in
 * Terraform's table ({@link DETAILED_EXIT}).
 */
import { CommanderError, type Command } from "commander";
import {
  AggregateHostError,
  BundleError,
  CommandFailedError,
  ConfigError,
  ContainerNotFoundError,
  HealthCheckError,
  HostKeyError,
  LockHeldError,
  MissingToolError,
  PreconditionError,
  RegistryError,
  RolloutError,
  TransportError,
} from "../core/errors";

/** Every exit code longshore uses. */
export const EXIT = {
  ok: 0,
  /** Anything not listed below (a bug, an unexpected system error). */
  failure: 1,
  /** Bad input: config/inventory errors, files they name (archives, bundles, keys), usage errors. */
  badInput: 2,
  /** A host could not be reached or failed host-key verification. */
  unreachable: 3,
  /** A command failed on a host (non-zero exit or killed by a signal). */
  commandFailed: 4,
  /** This computer lacks something (a tool, root, Linux). */
  precondition: 5,
  /** A rollout failed (traffic kept on the old slot) or another operation holds the lock. */
  rolloutFailed: 6,
  /** Stopped by Ctrl-C (128 + SIGINT, what a shell shows for `docker logs -f` or `tail -f`). */
  interrupted: 130,
} as const;

/** One of {@link EXIT}'s codes, or a remote command's own ({@link passThroughExitCode}). */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT] | PassThroughExitCode;

/** A remote command's exit code that becomes longshore's as it is (`app exec -i`, like `ssh` and `docker exec`). */
export type PassThroughExitCode = number & { readonly __passThrough: true };

/** Marks a remote exit code (0 to 255; anything else is 255, as a shell would not show it) as longshore's own. */
export function passThroughExitCode(code: number): PassThroughExitCode {
  return (Number.isInteger(code) && code >= 0 && code <= 255 ? code : 255) as PassThroughExitCode;
}

/**
 * `plan --detailed-exitcode` (as `terraform plan -detailed-exitcode`): 0 nothing would change, 2
 * something would, 1 any error. Under it every error is 1 (bad input too, which is 2 otherwise),
 * so a 2 can only mean "changes" and CI can gate on it.
 */
export const DETAILED_EXIT = { noChanges: 0, error: 1, changes: 2 } as const;

/** Which table maps errors to exit codes: {@link EXIT}'s, or {@link DETAILED_EXIT}'s. */
export type ExitCodeScheme = "standard" | "detailed";

/**
 * The scheme a parsed command line asks for: `detailed` when a verb was given
 * `--detailed-exitcode`. Commander stores a known option even when it then rejects the command
 * line (an unknown option, a missing value), so a usage error is 1 under it too.
 */
export function exitCodeSchemeOf(program: Command): ExitCodeScheme {
  return program.commands.some((c) => c.getOptionValue("detailedExitcode") === true) ? "detailed" : "standard";
}

/**
 * When several hosts fail differently, the most fundamental cause wins: input before this
 * computer before the network before commands. Every failure is still printed.
 */
const PRIORITY: readonly ExitCode[] = [EXIT.badInput, EXIT.precondition, EXIT.unreachable, EXIT.commandFailed, EXIT.rolloutFailed, EXIT.failure];

/** Maps an error to its exit code (under `detailed`, every error but help is {@link DETAILED_EXIT}.error). */
export function exitCodeFor(err: unknown, scheme: ExitCodeScheme = "standard"): ExitCode {
  if (scheme === "detailed") {
    const informational = err instanceof CommanderError && (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0);
    return informational ? EXIT.ok : DETAILED_EXIT.error;
  }
  if (err instanceof CommanderError) {
    return err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
  }
  if (err instanceof AggregateHostError) {
    const codes = new Set(err.failures.map((f) => exitCodeFor(f.error)));
    return PRIORITY.find((c) => codes.has(c)) ?? EXIT.failure;
  }
  // A bundle that does not verify is a directory the user named (engine.bundle, `engine verify DIR`)
  // or built: input to fix (rebuild it), like a config error, not a failure of longshore.
  if (err instanceof ConfigError || err instanceof BundleError) return EXIT.badInput;
  if (err instanceof TransportError || err instanceof HostKeyError) return EXIT.unreachable;
  // No container to run in is how a command fails on a host that is up (`app exec`).
  if (err instanceof CommandFailedError || err instanceof ContainerNotFoundError) return EXIT.commandFailed;
  if (err instanceof PreconditionError || err instanceof MissingToolError) return EXIT.precondition;
  // Refused credentials and a tag that is not there are input to fix; an unreachable registry is the network.
  if (err instanceof RegistryError) return err.kind === "auth" || err.kind === "not-found" ? EXIT.badInput : err.kind === "unreachable" ? EXIT.unreachable : EXIT.failure;
  // A failed health gate is how a rollout fails.
  if (err instanceof RolloutError || err instanceof LockHeldError || err instanceof HealthCheckError) return EXIT.rolloutFailed;
  return EXIT.failure;
}
