/**
 * The name rules: slots, environments, DNS labels (apps, hosts, containers) and environment
 * variable names. One rule each; every schema that takes such a name uses these.
 */
import { z } from "zod";

/** The two slots of a blue/green environment, in the order reports use. */
export const SLOTS = ["blue", "green"] as const;
/** A slot of the blue/green pair. */
export type SlotName = (typeof SLOTS)[number];
/** `blue` or `green`. */
export const slotNameSchema = z.enum(SLOTS);

/** The other slot. */
export function otherSlot(slot: SlotName): SlotName {
  return slot === "blue" ? "green" : "blue";
}

/** A DNS label: what host names, container names and systemd unit names all accept. */
export const dnsLabelSchema = z
  .string()
  .regex(/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)");

/**
 * An environment's name. Short because it prefixes everything made for it: local machine groups
 * are `<name>-<slot>-g<N>` (local names stop at 24 characters), AWS resources are tagged with it.
 */
export const environmentNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,11}$/, "must be a lower-case name of 1-12 letters, digits or '-', starting with a letter");

/** An environment variable's name, as the engine's `--env-file` and POSIX shells take it. */
export const envVarNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");

/**
 * A machine group's name (`longshore local up --env NAME`; an environment's slot generations are
 * `<env>-<slot>-g<N>`): short, because it ends up in cgroup paths and host names.
 */
export const machineGroupNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,23}$/, "must be lower-case letters, digits and '-', starting with a letter, at most 24 characters");
