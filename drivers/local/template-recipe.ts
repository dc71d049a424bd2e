/**
 * The recipe of the machines' template root filesystem and the customisation applied to it, as
 * data. The recipe's hash names the cached tarball, so any change here (a package, a file, the
 * customisation version) builds a new template and an unchanged recipe reuses the cached one.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { HOST_OS, type HostOs } from "../../model/environment";
import { deriveSuiteSources, parseDeb822Sources } from "../../provisioner/bundle/recipe";

/** Bump when the customisation below changes in a way its file contents do not show. */
export const CUSTOMISATION_VERSION = 1;

/** The packages every template has: a booting systemd, sshd, and what the engine needs around it. */
export const BASE_PACKAGES = [
  "openssh-server",
  "systemd",
  "systemd-sysv",
  "dbus",
  "iproute2",
  "iptables",
  "procps",
  "sudo",
  "ca-certificates",
  "kmod",
] as const;

/** What a template is made of. */
export const TemplateRecipeSchema = z.object({
  suite: z.string().regex(/^[a-z]+$/, "a Debian suite name like bookworm"),
  variant: z.literal("minbase"),
  /** Added to {@link BASE_PACKAGES}; Debian package names. */
  extraPackages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "a Debian package name")).default([]),
});

/** See {@link TemplateRecipeSchema}. */
export type TemplateRecipe = z.infer<typeof TemplateRecipeSchema>;

/** The default recipe: Debian 12 minbase. */
export const DEFAULT_RECIPE: TemplateRecipe = { suite: "bookworm", variant: "minbase", extraPackages: [] };

/** The machines' template for a host OS (`hosts.os`): Debian's minbase of its release. */
export function templateRecipeFor(os: HostOs): TemplateRecipe {
  return { ...DEFAULT_RECIPE, suite: HOST_OS[os] };
}

/** A file the customisation writes into the template. */
export interface TemplateFile {
  /** Absolute path inside the root filesystem. */
  path: string;
  content: string;
  mode: number;
}

/** Everything the customisation does to a fresh debootstrap, as data. */
export interface Customisation {
  files: TemplateFile[];
  /** Removed (glob-free paths): the template's own host keys, so no machine ever shares one. */
  remove: string[];
  /** Emptied: /etc/machine-id (each machine gets its own before boot). */
  truncate: string[];
  /** `systemctl --root enable` */
  enable: string[];
  /** `systemctl --root mask`: units that try the network or hang in containers. */
  mask: string[];
}

/**
 * The oneshot that makes nspawn's read-only cgroup v1 controller mounts writable, ordered before
 * containerd and docker (which need to create cgroups). Harmless on a cgroup v2-only computer.
 */
export const CGROUP_REMOUNT_UNIT = `[Unit]
Description=Make the cgroup v1 controllers writable for the container engine (longshore)
DefaultDependencies=no
After=local-fs.target
Before=containerd.service docker.service sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for d in /sys/fs/cgroup/*/; do if mountpoint -q "$d"; then mount -o remount,bind,rw "$d" || exit 1; fi; done'

[Install]
WantedBy=sysinit.target
`;

/** sshd: keys only, root only with a key, our own host key, no DNS lookups on login. */
export const SSHD_CONFIG = `# Written by longshore: keys only; the host key is generated per machine by longshore.
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
`;

/** The customisation applied to every template. */
export function customisation(): Customisation {
  return {
    files: [
      { path: "/etc/ssh/sshd_config.d/10-longshore.conf", content: SSHD_CONFIG, mode: 0o644 },
      { path: "/etc/systemd/system/longshore-cgroup-remount.service", content: CGROUP_REMOUNT_UNIT, mode: 0o644 },
      // Machines have no route to the internet: apt must not try in the background.
      { path: "/etc/apt/apt.conf.d/99longshore-offline", content: 'APT::Periodic::Enable "0";\n', mode: 0o644 },
    ],
    remove: [
      "/etc/ssh/ssh_host_rsa_key",
      "/etc/ssh/ssh_host_rsa_key.pub",
      "/etc/ssh/ssh_host_ecdsa_key",
      "/etc/ssh/ssh_host_ecdsa_key.pub",
      "/etc/ssh/ssh_host_ed25519_key",
      "/etc/ssh/ssh_host_ed25519_key.pub",
      "/var/lib/dbus/machine-id",
    ],
    truncate: ["/etc/machine-id"],
    enable: ["systemd-networkd.service", "longshore-cgroup-remount.service"],
    mask: ["apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer", "getty@tty1.service"],
  };
}

/** Every package debootstrap installs for `recipe`, sorted and unique. */
export function recipePackages(recipe: TemplateRecipe): string[] {
  return [...new Set([...BASE_PACKAGES, ...recipe.extraPackages])].sort();
}

/** The hash that names a template: suite, variant, packages and the full customisation. */
export function recipeHash(recipe: TemplateRecipe): string {
  const canonical = JSON.stringify({
    suite: recipe.suite,
    variant: recipe.variant,
    packages: recipePackages(recipe),
    customisationVersion: CUSTOMISATION_VERSION,
    customisation: customisation(),
  });
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

/**
 * The first `URIs:` of the main Debian archive in a deb822 sources file (the stanza whose suites
 * include `suite`, not the security archive). Null when there is none.
 */
export function mirrorFromSources(deb822: string, suite: string): string | null {
  const stanzas = parseDeb822Sources(deb822);
  const find = (list: typeof stanzas) => list.find((s) => s.enabled && s.types.includes("deb") && s.suites.includes(suite) && s.uris.length > 0);
  // A Debian 12 computer's mirror serves Debian 13 too (deriveSuiteSources).
  const main = find(stanzas) ?? find(deriveSuiteSources(stanzas, suite));
  return main?.uris[0] ?? null;
}

/** The first `deb URI SUITE` mirror in a one-line-style sources.list, or null. */
export function mirrorFromSourcesList(text: string, suite: string): string | null {
  for (const line of text.split("\n")) {
    const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m && m[2] === suite) return m[1]!;
  }
  return null;
}
