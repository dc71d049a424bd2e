/**
 * Checking a host's SSH host key against its pin: one handshake through the transport with the
 * target's own host-key policy (fingerprints, known_hosts), then close. Nothing runs on the host.
 * The key is verified during key exchange, before authentication, so a host that refuses our
 * login has still shown the key it holds.
 */
import { HostKeyError, TransportError } from "../../core/errors";
import type { SshTarget } from "../../model/ssh-target";
import type { SshConnectOptions } from "./connect-options";
import type { Transport } from "./transport";

/** What {@link checkHostKey} found (the same states as rollout/driver.ts's HostKeyState, minus `unknown`). */
export interface HostKeyCheck {
  state: "match" | "mismatch" | "unreachable";
  detail: string;
}

/** One attempt, no dial retries: a status query must not wait a minute for a host that is down. */
export const HOST_KEY_CHECK_OPTIONS: SshConnectOptions = { connectDeadlineMs: 0, handshakeTimeoutMs: 5_000 };

/** Connects to `target` once with its pinned host-key policy and says whether the key matched. */
export async function checkHostKey(
  target: SshTarget,
  connect: (target: SshTarget, options?: SshConnectOptions) => Promise<Transport>,
): Promise<HostKeyCheck> {
  try {
    const t = await connect(target, HOST_KEY_CHECK_OPTIONS);
    await t.close().catch(() => undefined);
    return hostKeyMatched(target);
  } catch (e) {
    return hostKeyCheckOf(target, e);
  }
}

/** What a connection to `target` that was established says: its pinned key matched. */
export function hostKeyMatched(target: SshTarget): HostKeyCheck {
  return { state: "match", detail: `presented ${pinnedText(target)}` };
}

/**
 * What a failed connection to `target` says about its host key: a {@link HostKeyError} is a
 * mismatch, a login refused after the key exchange still a match, anything else unreachable.
 * For callers that connect to do more than check (one connection for the check and their work).
 */
export function hostKeyCheckOf(target: SshTarget, e: unknown): HostKeyCheck {
  if (e instanceof HostKeyError) return { state: "mismatch", detail: `presented ${e.presented}, pinned ${e.expected.length ? e.expected.join(", ") : "(nothing)"}` };
  if (e instanceof TransportError && e.kind === "auth" && reachedAuthentication(e)) {
    return { state: "match", detail: `presented ${pinnedText(target)} (but login failed: ${e.message})` };
  }
  return { state: "unreachable", detail: e instanceof Error ? e.message : String(e) };
}

function pinnedText(target: SshTarget): string {
  return target.hostKey.fingerprints?.length ? target.hostKey.fingerprints.join(", ") : "its known_hosts entry";
}

/**
 * True when ssh2 got as far as authentication (its error's level is `client-authentication`), so the
 * host key had been verified; false for an auth problem found before dialing (an unreadable key).
 */
function reachedAuthentication(e: TransportError): boolean {
  const cause = e.cause as { level?: unknown } | undefined;
  return typeof cause === "object" && cause !== null && cause.level === "client-authentication";
}
