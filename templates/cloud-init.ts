/**
 * Renders the cloud-init user data of one host (`templates/cloud-init/user-data.yaml.hbs`):
 * handlebars in strict mode (a missing value is an error, never an empty string), every value
 * written as a JSON string so YAML reads it verbatim. Pure: data in, text out; the host fleet
 * calls it inside an `apply` once the host key exists.
 */
import { readFileSync, existsSync } from "node:fs";
import * as path from "node:path";
import Handlebars from "handlebars";

/** What one host's user data says. */
export interface UserDataInput {
  host: {
    /** `web-blue-0`: the name reports use. */
    name: string;
    environment: string;
    slot: string;
    /** The slot's image; part of the user data so a new image replaces the host. */
    image: string;
  };
  /** The host's own ed25519 key pair, OpenSSH formats. The private key is a secret. */
  hostKey: { privateKey: string; publicKey: string };
  /** Public key lines allowed to log in as the image's default user. At least one. */
  authorizedKeys: string[];
}

const TEMPLATE = "cloud-init/user-data.yaml";

const hbs = Handlebars.create();
/** `{{json value}}`: a JSON string (or number/boolean), which is also a valid YAML flow scalar. */
hbs.registerHelper("json", (value: unknown, options: unknown) => {
  if (options === undefined) throw new Error("json needs exactly one argument");
  if (value === undefined) throw new Error("json got undefined: the variable it was given is missing from the data");
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
    throw new Error(`json needs a string, number or boolean, got ${value === null ? "null" : typeof value}`);
  }
  return JSON.stringify(value);
});

let compiled: HandlebarsTemplateDelegate | undefined;

/** The template file: next to this module in the source tree, or the source tree's when run from dist/. */
function templateFile(): string {
  const candidates = [path.join(__dirname, `${TEMPLATE}.hbs`), path.resolve(__dirname, "..", "..", "templates", `${TEMPLATE}.hbs`)];
  const found = candidates.find((f) => existsSync(f));
  if (!found) throw new Error(`template ${TEMPLATE}: no file at ${candidates.join(" or ")}`);
  return found;
}

/** Problems with the data that would make a broken or unsafe document; empty when fine. */
export function userDataProblems(input: UserDataInput): string[] {
  const problems: string[] = [];
  if (!input.hostKey.privateKey.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
    problems.push("hostKey.privateKey: must be an OpenSSH private key");
  }
  if (!/^ssh-ed25519 [A-Za-z0-9+/=]+( [^\r\n]*)?$/.test(input.hostKey.publicKey)) {
    problems.push("hostKey.publicKey: must be one ssh-ed25519 public key line");
  }
  if (input.authorizedKeys.length === 0) problems.push("authorizedKeys: must not be empty");
  input.authorizedKeys.forEach((k, i) => {
    if (!/^\S+ [A-Za-z0-9+/=]+( [^\r\n]*)?$/.test(k)) problems.push(`authorizedKeys[${i}]: must be one public key line`);
  });
  for (const [key, value] of Object.entries(input.host)) {
    if (value === "" || /[\r\n]/.test(value)) problems.push(`host.${key}: must be one non-empty line`);
  }
  return problems;
}

/**
 * The `#cloud-config` document for one host.
 * @throws Error listing every problem when the data is unfit (see {@link userDataProblems}).
 */
export function renderUserData(input: UserDataInput): string {
  const problems = userDataProblems(input);
  if (problems.length) throw new Error(`cloud-init user data for ${input.host.name}: ${problems.join("; ")}`);
  compiled ??= hbs.compile(readFileSync(templateFile(), "utf8"), { strict: true, noEscape: true });
  const { environment, slot, image, name } = input.host;
  const hostJson = `${JSON.stringify({ host: name, environment, slot, image })}\n`;
  return compiled({ ...input, hostJson });
}
