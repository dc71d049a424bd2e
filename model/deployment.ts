/**
 * What the hosts of a slot run, from the environment and its resolved secrets: the app with the
 * slot's image and its secret values, and the registry credentials that go with that image. Pure;
 * every driver (the local one through the provisioner, the `web` program through the Pulumi
 * provider) builds its hosts' desired state with these functions.
 */
import type { Sensitive } from "../core/sensitive";
import type { AppSpec, ResolvedApp, ResolvedAppInput, ResolvedCompose, VolumeSpec } from "./app";
import type { Environment } from "./environment";
import { isRegistryOf } from "./image-reference";
import type { ResolvedRegistry } from "./registry";

/** The app and credentials for hosts that run `image`. */
export interface Deployment {
  app: ResolvedApp;
  /** Credentials for `image`'s registry, or null (none configured, or `image` is from another registry). */
  registry: ResolvedRegistry | null;
}

/**
 * The credentials that go with `image`, its password as `P` (a resolved value, or a Pulumi input).
 * Credentials go only to the registry they are for: an image from another registry is pulled
 * without them, so a password never reaches a host it was not meant for. Pure.
 */
export function registryFor<P>(
  registry: Environment["registry"],
  password: P | null,
  image: string,
): { server: string; username: string; password: P } | null {
  return registry && password !== null && isRegistryOf(registry.server, image) ? { server: registry.server, username: registry.username, password } : null;
}

/** The deployment of `image`: the app with that image and its secret values, and {@link registryFor}'s credentials. */
export function deploymentOf(
  env: Pick<Environment, "app" | "registry">,
  secrets: { app: Readonly<Record<string, Sensitive>>; registryPassword: Sensitive | null },
  image: string,
  compose: ResolvedCompose | null = null,
): Deployment {
  // imageFrom is the controller's concern (how the image is delivered), not part of the hosts' app;
  // a Compose app's hosts get the file's text (read and checked when the environment was loaded).
  const { imageFrom: _from, compose: composePath, ...app } = env.app;
  if (composePath !== undefined && compose === null) throw new Error(`app.compose names ${composePath}, but its text was not given to the deployment`);
  return {
    app: { ...app, image, secrets: { ...secrets.app }, ...(compose !== null ? { compose } : {}) },
    registry: registryFor(env.registry, secrets.registryPassword, image),
  };
}

/** A volume as the environment file writes it (`SOURCE:TARGET[:ro]`). */
export function volumeText(v: VolumeSpec): string {
  return `${v.source}:${v.target}${v.readOnly ? ":ro" : ""}`;
}

/**
 * The app in its input form (what the schema parses, e.g. for the Pulumi provider's JSON), with
 * `image` and the given secret values. Parsing it again gives the same app. Pure.
 */
export function appInputOf<S>(app: AppSpec | ResolvedApp, image: string, secrets: Record<string, S>): Omit<ResolvedAppInput, "secrets"> & { secrets: Record<string, S> } {
  // imageFrom (present on an AppSpec) is the controller's concern: the hosts' app has no such key.
  const { volumes, secrets: _sources, imageFrom: _from, compose: _compose, ...rest } = app as AppSpec;
  return { ...rest, image, volumes: volumes.map(volumeText), secrets };
}
