/**
 * Which stack config keys hold the environment's `{ pulumi: KEY }` secrets, and whether each is
 * stored encrypted. The `web` program reads them with `getSecret` (a Pulumi secret in the state
 * however it was set); the Automation API, which `longshore rollout` with `driver: aws` drives,
 * also says whether the stack file holds each value encrypted, so a value set without `--secret`
 * (in clear in `Pulumi.<stack>.yaml`, in git) is refused there before `pulumi up`. Pure.
 */
import type { ConfigIssue } from "../../core/errors";
import type { Environment } from "../../model/environment";

/** One `{ pulumi: KEY }` secret: where the environment file names it, and the key it names. */
export interface PulumiSecretSource {
  /** The key path in the environment file (`app.secrets.DB_PASSWORD`, `registry.password`). */
  path: string;
  /** As written: `KEY` (this project's namespace) or `namespace:KEY`. */
  key: string;
}

/** The environment's secrets that come from the stack's config, in file order. */
export function pulumiSecretSources(env: Pick<Environment, "app" | "registry">): PulumiSecretSource[] {
  return [
    ...Object.entries(env.app.secrets).flatMap(([k, s]) => ("pulumi" in s ? [{ path: `app.secrets.${k}`, key: s.pulumi }] : [])),
    ...(env.registry && "pulumi" in env.registry.password ? [{ path: "registry.password", key: env.registry.password.pulumi }] : []),
  ];
}

/** `KEY` in `project`'s namespace, `ns:KEY` as it is: the name `pulumi config` lists. */
export function qualifiedConfigKey(key: string, project: string): string {
  return key.includes(":") ? key : `${project}:${key}`;
}

/**
 * One issue per secret whose stack config value is stored in clear (`secret: false` in the
 * Automation API's config map). Missing keys are left to the program, which names them all.
 */
export function plainSecretIssues(
  env: Pick<Environment, "app" | "registry">,
  file: string,
  config: Readonly<Record<string, { value?: string; secret?: boolean }>>,
  project = "web",
): ConfigIssue[] {
  return pulumiSecretSources(env).flatMap(({ path, key }) => {
    const full = qualifiedConfigKey(key, project);
    const value = config[full];
    if (value === undefined || value.secret === true) return [];
    return [{ path: `${file}: ${path}`, message: `the stack's config ${full} is stored in clear in Pulumi.<stack>.yaml: set it again with \`pulumi config set --secret ${key} <value>\`` }];
  });
}
