// Runs index.js under Pulumi's mocks (no engine, no cloud) and prints its outputs and the resources it declared, as JSON.
// test/integration/package-install.test.ts runs it; `node run-mocked.js` after `npm install && npm run build` does the same by hand.
const crypto = require("node:crypto");
const pulumi = require("@pulumi/pulumi");
const { openSshEd25519FromSeed } = require("longshore");
const registered = [];
pulumi.runtime.setMocks({
  newResource: (a) => {
    registered.push(`${a.type}::${a.name}`);
    const state = { ...a.inputs, arn: `arn:mock:${a.name}` };
    if (a.type === "pulumi-nodejs:dynamic/longshore:HostKey") {
      const pair = openSshEd25519FromSeed(crypto.createHash("sha256").update(a.name).digest(), String(a.inputs.comment));
      Object.assign(state, { publicKey: pair.publicKey, fingerprint: pair.fingerprint, privateKey: pair.privateKey });
    }
    if (a.type === "aws:ec2/instance:Instance") Object.assign(state, { publicIp: "198.51.100.7", privateIp: "10.0.0.7" });
    return { id: `${a.name}-id`, state };
  },
  call: (a) => {
    if (a.token === "aws:index/getAvailabilityZones:getAvailabilityZones") return { id: "eu-west-1", names: ["eu-west-1a", "eu-west-1b"], zoneIds: ["euw1-az1", "euw1-az2"] };
    if (a.token === "aws:ec2/getAmi:getAmi") return { id: "ami-0123456789abcdef0", name: "debian-12-amd64-20250101-1966", architecture: "x86_64" };
    throw new Error(`no mock for call ${a.token}`);
  },
}, "own-program", "test", false);
const program = require("./index.js");
const value = (o) => new Promise((r) => pulumi.output(o).apply(r));
Promise.all([value(program.vpcId), value(program.hostNames), value(program.publicIps)]).then(([vpcId, hostNames, publicIps]) => {
  setTimeout(() => process.stdout.write(JSON.stringify({ vpcId, hostNames, publicIps, registered: registered.sort() })), 500);
});
