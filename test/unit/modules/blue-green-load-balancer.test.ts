// Mocks: does not prove that the ALB accepts these listeners or really drains connections; only what is declared and in which order.
import { find, ofType, registrations, resetRegistrations, settle } from "./harness";
import { describe, expect, it } from "vitest";
import { BlueGreenLoadBalancer, blueGreenProblems, servingSlots, type BlueGreenLoadBalancerArgs } from "../../../modules/blue-green-load-balancer";

const TG = (slot: string) => `arn:aws:mock:eu-west-1:123456789012:TargetGroup/lb-${slot}`;

function args(overrides: Partial<BlueGreenLoadBalancerArgs> = {}): BlueGreenLoadBalancerArgs {
  return {
    vpcId: "vpc-1",
    subnetIds: ["subnet-a", "subnet-b"],
    securityGroupIds: ["sg-lb"],
    appPort: 8080,
    targets: { blue: ["i-b0", "i-b1"], green: ["i-g0"] },
    liveSlot: "blue",
    testListenerPorts: { blue: 8081, green: 8082 },
    ...overrides,
  };
}

async function build(overrides: Partial<BlueGreenLoadBalancerArgs> = {}) {
  resetRegistrations();
  const lb = new BlueGreenLoadBalancer("lb", args(overrides));
  await settle();
  return lb;
}

describe("blueGreenProblems", () => {
  it.each<[string, Partial<BlueGreenLoadBalancerArgs>, string[]]>([
    ["a sound setup", {}, []],
    ["traffic to an empty slot", { liveSlot: "green", targets: { blue: ["i-1"], green: [] } }, ["targets.green: the green slot would receive traffic but has no hosts"]],
    [
      "a split with bad weights",
      { weights: { blue: 0, green: 1000 } },
      ["weights.green: must be a whole number from 0 to 999, got 1000", "weights.blue: the live slot's weight must be more than 0"],
    ],
    ["a split without a live slot", { liveSlot: undefined, weights: { blue: 1, green: 1 } }, ["weights: need a liveSlot"]],
    ["a split onto an empty slot", { weights: { blue: 90, green: 10 }, targets: { blue: ["i-1"], green: [] } }, ["targets.green: the green slot would receive traffic but has no hosts"]],
    [
      "test ports",
      { testListenerPorts: { blue: 443, green: 443 } },
      ["testListenerPorts: blue and green must differ", "testListenerPorts.blue: 443 must be a port other than 80 and 443", "testListenerPorts.green: 443 must be a port other than 80 and 443"],
    ],
    ["health check timing", { healthCheck: { intervalSeconds: 5, timeoutSeconds: 5 } }, ["healthCheck.timeoutSeconds: must be less than intervalSeconds"]],
    ["a drain too long", { deregistrationDelaySeconds: 7200 }, ["deregistrationDelaySeconds: must be 0 to 3600, got 7200"]],
  ])("%s", (_what, overrides, problems) => {
    expect(blueGreenProblems(args(overrides))).toEqual(problems);
  });

  it("stops the component before anything is declared", () => {
    resetRegistrations();
    expect(() => new BlueGreenLoadBalancer("x", args({ liveSlot: "green", targets: { blue: [], green: [] } }))).toThrow(
      "BlueGreenLoadBalancer x: targets.green: the green slot would receive traffic but has no hosts",
    );
    expect(registrations).toEqual([]);
  });

  it.each<[Parameters<typeof servingSlots>[0], Parameters<typeof servingSlots>[1], string[]]>([
    [undefined, undefined, []],
    ["green", undefined, ["green"]],
    ["blue", { blue: 90, green: 10 }, ["blue", "green"]],
    ["blue", { blue: 100, green: 0 }, ["blue"]],
  ])("servingSlots(%s, %j) = %j", (live, weights, slots) => {
    expect(servingSlots(live, weights)).toEqual(slots);
  });
});

describe("BlueGreenLoadBalancer", () => {
  it("keeps both target groups, with the health check and the draining delay", async () => {
    await build({ healthCheck: { path: "/ready", matcher: "200-299" }, deregistrationDelaySeconds: 30 });
    expect(ofType("aws:lb/targetGroup:TargetGroup").map((r) => r.name).sort()).toEqual(["lb-blue", "lb-green"]);
    expect(find("aws:lb/targetGroup:TargetGroup", "lb-green").inputs).toMatchObject({
      port: 8080,
      protocol: "HTTP",
      targetType: "instance",
      deregistrationDelay: 30,
      healthCheck: { enabled: true, path: "/ready", matcher: "200-299", interval: 10, timeout: 5, healthyThreshold: 2, unhealthyThreshold: 2, port: "traffic-port" },
    });
    expect(ofType("aws:lb/targetGroupAttachment:TargetGroupAttachment").map((r) => [r.name, r.inputs.targetGroupArn, r.inputs.targetId]).sort()).toEqual([
      ["lb-blue-0", TG("blue"), "i-b0"],
      ["lb-blue-1", TG("blue"), "i-b1"],
      ["lb-green-0", TG("green"), "i-g0"],
    ]);
    expect(find("aws:lb/loadBalancer:LoadBalancer", "lb").inputs).toMatchObject({ loadBalancerType: "application", internal: false, dropInvalidHeaderFields: true });
  });

  it("answers 503 before any slot is live, and then waits on no gate", async () => {
    await build({ liveSlot: undefined });
    const l = find("aws:lb/listener:Listener", "lb-http");
    expect(l.inputs.defaultActions).toEqual([{ type: "fixed-response", fixedResponse: { contentType: "text/plain", statusCode: "503", messageBody: "no live slot yet\n" } }]);
    expect(l.dependencies.filter((d) => d.includes("HealthGate"))).toEqual([]);
  });

  it("splits traffic by weight for a canary, waiting on both slots' gates", async () => {
    await build({ weights: { blue: 90, green: 10 } });
    const l = find("aws:lb/listener:Listener", "lb-http");
    expect(l.inputs.defaultActions).toEqual([
      { type: "forward", forward: { targetGroups: [{ arn: TG("blue"), weight: 90 }, { arn: TG("green"), weight: 10 }] } },
    ]);
    expect(l.dependencies.filter((d) => d.includes("HealthGate")).sort()).toEqual([
      "pulumi-nodejs:dynamic/longshore:HealthGate::lb-gate-blue",
      "pulumi-nodejs:dynamic/longshore:HealthGate::lb-gate-green",
    ]);
  });

  it("with a certificate: port 80 redirects, the HTTPS listener is the switch", async () => {
    await build({ certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abc" });
    expect(find("aws:lb/listener:Listener", "lb-http").inputs.defaultActions).toEqual([
      { type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } },
    ]);
    const https = find("aws:lb/listener:Listener", "lb-https");
    expect(https.inputs).toMatchObject({
      port: 443,
      protocol: "HTTPS",
      certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
      sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
      defaultActions: [{ type: "forward", targetGroupArn: TG("blue") }],
    });
    expect(https.dependencies).toContain("pulumi-nodejs:dynamic/longshore:HealthGate::lb-gate-blue");
    expect(find("aws:lb/listener:Listener", "lb-http").dependencies.filter((d) => d.includes("HealthGate"))).toEqual([]);
  });

  it("gates only slots that have hosts, through their test listener; none when asked for none", async () => {
    await build({ targets: { blue: ["i-b0"], green: [] } });
    expect(ofType("longshore:rollout:HealthGate").map((r) => r.name)).toEqual(["lb-gate-blue"]);
    expect(find("pulumi-nodejs:dynamic/longshore:HealthGate", "lb-gate-blue").inputs).toMatchObject({
      targets: [{ name: "lb blue slot (test listener :8081)", url: "http://lb-1234567890.eu-west-1.elb.amazonaws.com:8081/healthz" }],
      matcher: "200",
      deadlineMs: 300_000,
      consecutiveSuccesses: 2,
      // What the gate vouches for: the instances attached to the slot's target group.
      instanceIds: ["i-b0"],
    });
    expect(find("aws:lb/listener:Listener", "lb-test-green").inputs.defaultActions).toEqual([{ type: "forward", targetGroupArn: TG("green") }]);
    await build({ healthGate: false });
    expect(ofType("longshore:rollout:HealthGate")).toEqual([]);
    await build({ testListenerPorts: undefined });
    expect(ofType("longshore:rollout:HealthGate")).toEqual([]);
    expect(ofType("aws:lb/listener:Listener").map((r) => r.name)).toEqual(["lb-http"]);
  });
});
