/**
 * A program of your own: longshore's environment file model and its components, imported by the
 * package's name. One VPC, the security groups, and one slot of two hosts of the file's app.
 */
import * as pulumi from "@pulumi/pulumi";
import { HostFleet, Network, WebSecurityGroups, parseEnvironment } from "longshore";

const config = new pulumi.Config();

const parsed = parseEnvironment(
  [
    "name: own",
    "driver: aws",
    "app: { name: shop, image: shop:1.0, port: 8080 }",
    "slots: { blue: { image: shop:1.0, size: 2 }, green: { image: null } }",
    "live: blue",
    `aws: { region: eu-west-1, sshPublicKey: "${config.get("sshPublicKey") ?? "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop"}", adminCidrs: [203.0.113.7/32] }`,
  ].join("\n"),
  "own-program",
);
if (!parsed.ok) throw new Error(parsed.issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
const env = parsed.value;
const blue = env.slots.blue;

const tags = { environment: env.name };
const network = new Network("own-net", { azCount: 2, tags });
const securityGroups = new WebSecurityGroups("own-sg", { vpcId: network.vpcId, adminCidrs: env.aws!.adminCidrs, appPort: env.app.port, tags });
const fleet = new HostFleet("own-blue", {
  environment: env.name,
  slot: "blue",
  image: blue.image ?? env.app.image,
  size: blue.size,
  instanceType: "t3.small",
  subnetIds: network.publicSubnetIds,
  securityGroupIds: [securityGroups.hostsSecurityGroupId],
  authorizedKeys: [env.aws!.sshPublicKey],
  tags,
});

export const vpcId = network.vpcId;
export const hostNames = fleet.hostNames;
export const publicIps = fleet.publicIps;
